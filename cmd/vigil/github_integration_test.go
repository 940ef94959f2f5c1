package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/scanners/githuborg"
)

// TestGitHubOrgKilledRunResumes runs `vigil run` over a GitHub organisation
// (GitHub's examples for the API, the real git smart-HTTP server for the
// clones), kills it with SIGKILL half way, and runs it again: the second
// run starts at the repositories not yet stored (those stored are not
// fetched again), every planted leak is found once, and the token is in no
// output, database byte, mirror config or process argument list.
func TestGitHubOrgKilledRunResumes(t *testing.T) {
	token := "ghp_" + strings.Repeat("K", 36)
	o := testenv.NewOrg(t, "acme", func(u, p string) bool { return u == "x-access-token" && p == token })
	var planted []string
	const repos = 8
	for i := 1; i <= repos; i++ {
		key := testenv.FakeAWSKey()
		planted = append(planted, key)
		o.Add(fmt.Sprintf("r%d", i), false, func(r *testenv.Repo) {
			for c := 0; c < 30; c++ {
				r.Commit(fmt.Sprintf("c%d", c), map[string]string{fmt.Sprintf("f%d.txt", c): strings.Repeat("data ", 200) + "\n"})
			}
			r.Commit("leak", map[string]string{"conf.ini": fmt.Sprintf("aws_access_key_id = %q\n", key)})
		})
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`version: 1
db: state/vigil.db
cache_dir: cache
sources:
  github:
    - org: acme
      api_url: %s
      token_env: VIGIL_TEST_GH_TOKEN
      workers: 1
      alerts: false
`, o.API.URL)
	if err := os.WriteFile(filepath.Join(dir, "vigil.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VIGIL_TEST_GH_TOKEN", token)
	stop := testenv.WatchCmdlines(t, token)
	defer stop()

	cmd := exec.Command(vigilBin, "run", "--config", "vigil.yaml", "--quiet")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "state", "vigil.db")
	waitStored(t, cmd, dbPath, "git:"+githuborg.SourceName("acme", o.ID("r3")))
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	stored := count(t, dbPath, `SELECT COUNT(*) FROM scan_state WHERE source LIKE 'git:github:acme/%'`)
	if stored >= repos {
		t.Fatalf("the run finished (%d repositories stored) before it could be killed", stored)
	}

	o.Git.Reset()
	r := vigil(t, dir, "run", "--config", "vigil.yaml", "--format", "json", "--quiet")
	if r.code != exitFindings {
		t.Fatalf("resumed run exit %d: %s", r.code, r.stderr)
	}
	var fs []map[string]any
	json.Unmarshal([]byte(r.stdout), &fs)
	if len(fs) != repos {
		t.Fatalf("after the resumed run %d open findings, want %d (one per repository)", len(fs), repos)
	}
	for i := 1; i <= 3; i++ {
		if n := o.Git.Fetches(fmt.Sprintf("acme/r%d.git", i)); n != 0 {
			t.Errorf("r%d, stored before the kill, was fetched %d times again", i, n)
		}
	}
	if n := o.Git.Fetches("acme/r8.git"); n != 1 {
		t.Errorf("r8, not reached before the kill, was fetched %d times", n)
	}

	// The canary: no planted value nor the token in the outputs or the
	// database, and no token in any mirror's git config.
	blobs := map[string]string{"stdout": r.stdout, "stderr": r.stderr}
	filepath.Walk(filepath.Join(dir, "state"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			blobs[p] = string(b)
		}
		return nil
	})
	mirrors, _ := filepath.Glob(filepath.Join(dir, "cache", "github", "acme", "*.git", "config"))
	if len(mirrors) != repos {
		t.Errorf("%d mirrors, want %d", len(mirrors), repos)
	}
	for _, m := range mirrors {
		b, _ := os.ReadFile(m)
		blobs[m] = string(b)
	}
	for name, b := range blobs {
		for _, s := range append([]string{token}, planted...) {
			if strings.Contains(b, s) {
				t.Errorf("%s… found in %s", s[:6], name)
			}
		}
	}
}
