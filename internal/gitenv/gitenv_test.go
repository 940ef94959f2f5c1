package gitenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/testenv"
)

// LocalVar covers every variable the installed git says a program moving
// between repositories must clear.
func TestLocalVarsAreGits(t *testing.T) {
	testenv.Required(t, "git")
	out, err := exec.Command("git", "rev-parse", "--local-env-vars").Output()
	if err != nil {
		t.Fatal(err)
	}
	names := strings.Fields(string(out))
	if len(names) < 10 {
		t.Fatalf("git listed %q", names)
	}
	for _, name := range names {
		if !LocalVar(name) {
			t.Errorf("git lists %s; Env keeps it", name)
		}
	}
}

func TestEnv(t *testing.T) {
	t.Setenv("GIT_DIR", "/elsewhere/.git")
	t.Setenv("GIT_CONFIG_KEY_0", "core.bare")
	t.Setenv("GIT_CONFIG_GLOBAL", "/home/me/.gitconfig")
	env := Env("GIT_PAGER=cat")
	for _, kv := range env {
		if strings.HasPrefix(kv, "GIT_DIR=") || strings.HasPrefix(kv, "GIT_CONFIG_KEY_0=") {
			t.Errorf("%s kept", kv)
		}
	}
	for _, want := range []string{"GIT_CONFIG_GLOBAL=/home/me/.gitconfig", "GIT_NO_REPLACE_OBJECTS=1", "GIT_PAGER=cat"} {
		if !slices.Contains(env, want) {
			t.Errorf("%s missing", want)
		}
	}
}

// A repository's info/grafts file does not cut its history short, and git
// says nothing about it on stderr (where vigil takes git's error messages
// from).
func TestGraftsAreOff(t *testing.T) {
	r := testenv.NewRepo(t)
	for i := 0; i < 3; i++ {
		r.Commit(fmt.Sprintf("c%d", i), map[string]string{"f": fmt.Sprint(i)})
	}
	if err := os.WriteFile(filepath.Join(r.Dir, ".git", "info", "grafts"), []byte(r.Git("rev-parse", "HEAD")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	revList := func(env []string) (commits int, stderr string) {
		cmd := exec.Command("git", "-C", r.Dir, "rev-list", "HEAD")
		cmd.Env = env
		var e strings.Builder
		cmd.Stderr = &e
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		return len(strings.Fields(string(out))), e.String()
	}
	if n, _ := revList(os.Environ()); n != 1 {
		t.Fatalf("the graft should hide two commits from git by default; %d listed", n)
	}
	n, stderr := revList(Env())
	if n != 3 {
		t.Errorf("%d commits listed, want all 3", n)
	}
	if stderr != "" {
		t.Errorf("git wrote to stderr: %q", stderr)
	}
}
