package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/testenv"
)

// scanOnlyTags are the build's own tags (the Makefile passes them in
// GOFLAGS) plus scanonly.
func scanOnlyTags() string {
	for _, f := range strings.Fields(os.Getenv("GOFLAGS")) {
		if t, ok := strings.CutPrefix(f, "-tags="); ok {
			return t + ",scanonly"
		}
	}
	return "scanonly"
}

// The scan-only build links none of the stores' SDKs: that is what makes it
// small and its memory gitleaks'. A new import that drags one in fails here.
func TestScanOnlyBuildLinksNoStoreSDK(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags="+scanOnlyTags(), ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		for _, sdk := range []string{"github.com/aws/", "k8s.io/", "github.com/Azure/", "cloud.google.com/", "google.golang.org/grpc",
			"github.com/openbao/", "github.com/hashicorp/vault", "gitlab.com/gitlab-org/", "github.com/1Password/", "github.com/google/go-github",
			"github.com/vigilsec/vigil/stores", "github.com/vigilsec/vigil/internal/wiring"} {
			if strings.HasPrefix(p, sdk) {
				t.Errorf("the scan-only build links %s", p)
			}
		}
	}
}

// vigil-scan finds, stores and reports exactly what vigil does, and says
// plainly what it leaves to vigil.
func TestScanOnlyBinaryFindsWhatVigilFinds(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "vigil-scan")
	if out, err := exec.Command("go", "build", "-tags="+scanOnlyTags(), "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build vigil-scan: %v\n%s", err, out)
	}
	aws, gh := testenv.FakeAWSKey(), testenv.FakeGitHubToken()
	r := testenv.NewRepo(t)
	r.Commit("config", map[string]string{"deploy/env": "AWS_ACCESS_KEY_ID=" + aws + "\n", "app.py": "token = '" + gh + "'\n"})
	r.Commit("more", map[string]string{"notes.md": "nothing here\n"})
	dir := t.TempDir()
	logs := filepath.Join(dir, "app.log")
	if err := os.WriteFile(logs, []byte("boot\nGITHUB_TOKEN="+gh+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// One key for both databases, so that a value hashes alike in both.
	key := strings.Repeat("5a", 32)
	run := func(binary, db string, args ...string) result {
		cmd := exec.Command(binary, append(args, "--db", db, "--format", "json")...)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "VIGIL_HASH_KEY="+key)
		var res result
		o, err := cmd.Output()
		res.stdout = string(o)
		if ee, ok := err.(*exec.ExitError); ok {
			res.code, res.stderr = ee.ExitCode(), string(ee.Stderr)
		} else if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// What a person compares: where, which rule, which value (by hash).
	type seen struct{ Resource, Rule, Hash string }
	findings := func(out string) []seen {
		var fs []struct {
			Resource string         `json:"resource"`
			Evidence map[string]any `json:"evidence"`
		}
		if err := json.Unmarshal([]byte(out), &fs); err != nil {
			t.Fatalf("json: %v\n%s", err, out)
		}
		var s []seen
		for _, f := range fs {
			rule, _ := f.Evidence["rule"].(string)
			hash, _ := f.Evidence["secret_hash"].(string)
			s = append(s, seen{f.Resource, rule, hash})
		}
		sort.Slice(s, func(i, j int) bool { return s[i].Resource+s[i].Rule < s[j].Resource+s[j].Rule })
		return s
	}
	for _, src := range [][]string{{"scan", "git", r.Dir}, {"scan", "logs", logs}, {"scan", "dir", r.Dir}} {
		full := run(vigilBin, filepath.Join(dir, "full-"+src[1]+".db"), src...)
		lean := run(bin, filepath.Join(dir, "lean-"+src[1]+".db"), src...)
		if full.code != exitFindings || lean.code != exitFindings {
			t.Fatalf("%v: exit %d (vigil) and %d (vigil-scan)\n%s\n%s", src, full.code, lean.code, full.stderr, lean.stderr)
		}
		f, l := findings(full.stdout), findings(lean.stdout)
		if len(f) < 2 && src[1] != "logs" || len(f) == 0 || !reflect.DeepEqual(f, l) {
			t.Errorf("%v: vigil found %v, vigil-scan %v", src, f, l)
		}
		for _, out := range []string{lean.stdout, lean.stderr} {
			if strings.Contains(out, aws) || strings.Contains(out, gh) {
				t.Fatalf("%v: vigil-scan printed a secret", src)
			}
		}
	}
	// What the scan-only build leaves to vigil, it says so.
	gitHub := run(bin, filepath.Join(dir, "gh.db"), "scan", "github", "acme")
	if gitHub.code != exitUsage || !strings.Contains(gitHub.stderr, "scan-only build") {
		t.Errorf("scan github: exit %d, %q", gitHub.code, gitHub.stderr)
	}
	nightly := run(bin, filepath.Join(dir, "run.db"), "run")
	if nightly.code != exitUsage || !strings.Contains(nightly.stderr, "unknown command") {
		t.Errorf("run: exit %d, %q", nightly.code, nightly.stderr)
	}
	// And what it stored, its own commands read.
	listed := run(bin, filepath.Join(dir, "lean-git.db"), "findings", "list")
	if listed.code != 0 || len(findings(listed.stdout)) == 0 {
		t.Errorf("findings list: exit %d, %s %s", listed.code, listed.stdout, listed.stderr)
	}
}
