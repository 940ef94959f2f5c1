package gitenv

import (
	"os/exec"
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
