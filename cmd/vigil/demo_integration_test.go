package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/testenv"
)

// TestDemo runs `make demo`'s scripts from a copy of testdata/demo, twice,
// against real moto and OpenBao: the first shows every job's findings, an
// applied narrowing and rotation and what they resolved; the second is
// quick and shows nothing new.
func TestDemo(t *testing.T) {
	testenv.Required(t, "moto_server")
	testenv.Required(t, "bao")
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	demo := filepath.Join(tmp, "testdata", "demo")
	if out, err := exec.Command("mkdir", "-p", filepath.Dir(demo)).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	// The demo's fixtures, without a work/ an earlier `make demo` left.
	if out, err := exec.Command("cp", "-r", filepath.Join(repo, "testdata", "demo"), demo).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	os.RemoveAll(filepath.Join(demo, "work"))
	run := func(script string) string {
		t.Helper()
		cmd := exec.Command("bash", filepath.Join(demo, script))
		cmd.Env = append(os.Environ(), "VIGIL_BIN="+vigilBin, "VIGIL_DEMO_OUT="+filepath.Join(tmp, "out"), "VIGIL_REPO="+repo)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
		return string(out)
	}
	run("setup.sh")
	first := run("full.sh")
	for _, want := range []string{
		"**20 new**, 0 still open", // every job: leaks, inventory, IAM, trust, synthetic
		"leak.live", "iam.excess_grant", "iam.trust_too_broad", "synthetic.denied_allowed", "inventory.undeclared",
		"rotate.awssm  applied", "iam.narrow    applied",
		"**1 new**, 17 still open, 3 resolved", // the rotation and the narrowing; the leaked value lives on as AWSPREVIOUS
	} {
		if !strings.Contains(first, want) {
			t.Errorf("first demo lacks %q:\n%s", want, first)
		}
	}
	second := run("full.sh")
	for _, want := range []string{"**0 new**, 17 still open, 1 resolved", "nothing to apply", "**0 new**, 17 still open, 0 resolved"} {
		if !strings.Contains(second, want) {
			t.Errorf("second demo lacks %q:\n%s", want, second)
		}
	}
	for _, f := range []string{"summary.md", "report.html", "findings.sarif", "monthly.xlsx"} {
		if _, err := os.Stat(filepath.Join(tmp, "out", f)); err != nil {
			t.Error(err)
		}
	}
	// The leaked Stripe key the demo planted is in no report.
	b, _ := os.ReadFile(filepath.Join(demo, "seed", "main.go"))
	if i := strings.Index(string(b), `"sk_live_`); i > 0 {
		key := string(b)[i+1 : i+1+strings.Index(string(b)[i+1:], `"`)]
		for _, f := range []string{"summary.md", "report.html", "findings.json", "findings.sarif"} {
			if r, _ := os.ReadFile(filepath.Join(tmp, "out", f)); strings.Contains(string(r), key) {
				t.Errorf("the planted key is in %s", f)
			}
		}
	} else {
		t.Fatal("the seeder no longer plants the Stripe key this test looks for")
	}
}
