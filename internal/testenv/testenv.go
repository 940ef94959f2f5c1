// Package testenv holds helpers shared by integration tests: real git
// repositories made with the git binary, and fake secrets that gitleaks'
// default rules detect. Later scanners add their servers here (moto, OpenBao,
// the GitHub replay server), each started once per test binary.
package testenv

import (
	"crypto/rand"
	"math"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Required fails the test when a tool is missing in CI (CI=true) and skips it
// elsewhere: an integration test must never pass by skipping in CI.
func Required(t testing.TB, bin string) {
	t.Helper()
	if _, err := exec.LookPath(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", bin, err)
		}
		t.Skipf("%s not installed: %v", bin, err)
	}
}

func randFrom(alphabet string, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b.WriteByte(alphabet[k.Int64()])
	}
	return b.String()
}

// FakeAWSKey returns a random string shaped like an AWS access key id, which
// gitleaks' aws-access-token rule matches. Random per call, so a value found
// in any output can only have come from the test that planted it.
//
// gitleaks' AWS rule wants a Shannon entropy of at least 3 bits: about one
// random key in 5,000 falls short (repeated characters) and would not be
// found, so a test planting dozens would fail now and then. Such keys are
// drawn again.
func FakeAWSKey() string {
	for {
		if k := "AKIA" + randFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16); entropy(k) >= 3.5 {
			return k
		}
	}
}

// entropy is a string's Shannon entropy in bits per character, as gitleaks
// computes it.
func entropy(s string) float64 {
	counts := map[rune]float64{}
	for _, r := range s {
		counts[r]++
	}
	e, n := 0.0, float64(len(s))
	for _, c := range counts {
		e -= c / n * math.Log2(c/n)
	}
	return e
}

// FakeGitHubToken returns a random classic GitHub personal access token shape.
func FakeGitHubToken() string {
	return "ghp_" + randFrom("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 36)
}

// Repo is a git repository made for a test.
type Repo struct {
	T   testing.TB
	Dir string
}

// NewRepo creates an empty repository with a fixed identity and branch name.
func NewRepo(t testing.TB) *Repo {
	t.Helper()
	Required(t, "git")
	r := &Repo{T: t, Dir: filepath.Join(t.TempDir(), "repo")}
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r.Git("init", "-q", "-b", "main")
	r.Git("config", "user.email", "dev@example.test")
	r.Git("config", "user.name", "Test Dev")
	r.Git("config", "commit.gpgsign", "false")
	return r
}

// Git runs git in the repository and returns its trimmed output.
func (r *Repo) Git(args ...string) string {
	r.T.Helper()
	cmd := exec.Command("git", append([]string{"-C", r.Dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_DATE=2026-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.T.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// Write writes a file (creating directories) without committing.
func (r *Repo) Write(path, content string) {
	r.T.Helper()
	p := filepath.Join(r.Dir, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.T.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.T.Fatal(err)
	}
}

// Commit writes files and commits them all; it returns the commit id.
func (r *Repo) Commit(msg string, files map[string]string) string {
	r.T.Helper()
	for p, c := range files {
		r.Write(p, c)
	}
	r.Git("add", "-A")
	r.Git("commit", "-q", "--allow-empty", "-m", msg)
	return r.Git("rev-parse", "HEAD")
}
