package leaks

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zricethezav/gitleaks/v8/detect"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/safefile"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners"
)

// A FIFO matched by a log glob would block the run forever: it is skipped,
// and so are sockets and devices, as the directory scanner skips them.
func TestLogGlobSkipsFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.log"), 0o644); err != nil {
		t.Fatal(err)
	}
	appendFile(t, filepath.Join(dir, "app.log"), "key="+testenv.FakeAWSKey()+"\n")
	s := logScanner(t, filepath.Join(dir, "*.log"))
	done := make(chan []scanners.Result, 1)
	go func() { done <- scan(t, s, &memState{}) }()
	select {
	case res := <-done:
		if r := only(t, res); !strings.HasSuffix(r.Source.Part, "app.log") || len(r.Findings) != 1 {
			t.Fatalf("result %+v", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the scan blocked on a FIFO")
	}
	// Opening checks the type of what it opened, not of the name it
	// globbed: a FIFO swapped in after the glob is refused, not waited on.
	if _, _, err := safefile.Open(filepath.Join(dir, "pipe.log")); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("openRegular on a FIFO: %v", err)
	}
}

// A symlink matched by a log glob is not followed out of the glob's base
// directory unless the config says so; one inside it is read.
func TestLogGlobDoesNotFollowSymlinksOut(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "shadow")
	appendFile(t, outside, "root:"+testenv.FakeAWSKey()+"\n")
	dir := t.TempDir()
	os.Symlink(outside, filepath.Join(dir, "x.log"))
	appendFile(t, filepath.Join(dir, "real.log.1"), "key="+testenv.FakeGitHubToken()+"\n")
	os.Symlink(filepath.Join(dir, "real.log.1"), filepath.Join(dir, "current.log"))
	s := logScanner(t, filepath.Join(dir, "*.log"))
	res := scan(t, s, &memState{})
	if r := only(t, res); !strings.HasSuffix(r.Source.Part, "current.log") || len(r.Findings) != 1 {
		t.Fatalf("read %s (%d findings): the link out of the directory was followed, or the one inside was not", r.Source, len(r.Findings))
	}
	s.Logs[0].FollowSymlinks = true
	if res := scan(t, s, &memState{}); len(res) != 2 {
		t.Fatalf("with follow_symlinks: %d results", len(res))
	}
}

// A single 24 MB line (no newline) is scanned in pieces of bounded size,
// and a secret in its middle is found on line 2 of the file.
func TestLongLineIsScannedInBoundedPieces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "big.log")
	k := testenv.FakeAWSKey()
	filler := strings.Repeat("abcdefgh ", 12<<20/9)
	appendFile(t, p, "first line\n"+filler+" aws_access_key_id="+k+" "+filler)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(p, old, old)
	s := logScanner(t, filepath.Join(dir, "*.log"))
	// inspect runs on every detection worker at once.
	var mu sync.Mutex
	largest := 0
	s.Engine.inspect = func(f detect.Fragment) {
		mu.Lock()
		largest = max(largest, len(f.Raw))
		mu.Unlock()
	}
	r := only(t, scan(t, s, &memState{}))
	if len(r.Findings) != 1 || r.Findings[0].Evidence["line"] != 2 {
		t.Fatalf("findings %d %v", len(r.Findings), r.Findings)
	}
	if largest > maxLineBytes+chunkBytes {
		t.Fatalf("a fragment of %d bytes: memory grows with the line", largest)
	}
}

// The stored head of a log is a keyed hash: the database alone can't be
// used to guess a short file's contents.
func TestLogHeadHashIsKeyed(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "pw.log")
	appendFile(t, p, "hunter2\n")
	st := &memState{}
	r := only(t, scan(t, logScanner(t, filepath.Join(dir, "*.log")), st))
	var ls logState
	json.Unmarshal([]byte(r.State), &ls)
	plain := sha256hex([]byte("hunter2\n"))
	if ls.Head == "" || ls.Head == plain || strings.Contains(r.State, plain) {
		t.Fatalf("head %q is not keyed", ls.Head)
	}
}

// A rule added between runs applies to log bytes already scanned.
func TestLogRuleChangeRescansFromStart(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.log")
	appendFile(t, p, "ticket INTERNAL-abcdefabcdef0123 issued\n")
	st := &memState{}
	s := logScanner(t, filepath.Join(dir, "*.log"))
	if r := only(t, scan(t, s, st)); len(r.Findings) != 0 {
		t.Fatalf("default rules found %d", len(r.Findings))
	}
	s.Engine = customEngine(t, `[extend]
useDefault = true
[[rules]]
id = "internal-ticket"
regex = '''INTERNAL-[0-9a-f]{16}'''
`)
	r := only(t, scan(t, s, st))
	if r.Mode != scanners.Full || len(r.Findings) != 1 || !strings.Contains(r.Note, "rule set changed") {
		t.Fatalf("after a rule change: mode %v, %d findings, note %q", r.Mode, len(r.Findings), r.Note)
	}
	if r := only(t, scan(t, s, st)); r.Mode != scanners.Incremental || r.Stats.Bytes != 0 {
		t.Fatalf("then incremental again: %v %d", r.Mode, r.Stats.Bytes)
	}
}

func customEngine(t *testing.T, toml string) *Engine {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rules.toml")
	os.WriteFile(p, []byte(toml), 0o644)
	eng, err := NewEngine(p, "", newHasher(t), rules.DefaultControls())
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func gitScanner(t *testing.T, dir string) *Scanner {
	s := newScanner(t)
	s.Git = []GitTarget{{Name: "repo", Path: dir}}
	return s
}

// Narrower rules first, then the defaults: history already scanned is
// scanned again under the new rules, so the incremental database finds what
// a fresh one finds.
func TestGitRuleChangeRescansHistory(t *testing.T) {
	r := testenv.NewRepo(t)
	r.Commit("a", map[string]string{"a.py": "AWS = '" + testenv.FakeAWSKey() + "'\n"})
	r.Commit("b", map[string]string{"b.env": "GITHUB_TOKEN=" + testenv.FakeGitHubToken() + "\n"})
	s, st := gitScanner(t, r.Dir), &memState{}
	s.Engine = customEngine(t, `[[rules]]
id = "aws-only"
regex = '''AKIA[0-9A-Z]{16}'''
`)
	if res := only(t, scan(t, s, st)); len(res.Findings) != 1 {
		t.Fatalf("narrow rules: %d", len(res.Findings))
	}
	s.Engine = newScanner(t).Engine
	res := only(t, scan(t, s, st))
	if res.Mode != scanners.Full || len(res.Findings) != 2 || res.Note == "" {
		t.Fatalf("defaults after narrow rules: mode %v, %d findings, note %q", res.Mode, len(res.Findings), res.Note)
	}
	if got := strings.Join(res.Rules, ","); !strings.Contains(got, "aws-access-token") || strings.Contains(got, "aws-only") {
		t.Errorf("rules of the result: %s", got)
	}
	if res := only(t, scan(t, s, st)); res.Mode != scanners.Incremental || res.Stats.Commits != 0 {
		t.Fatalf("unchanged afterwards: %v %d", res.Mode, res.Stats.Commits)
	}
}

// A shallow clone is scanned but never called complete, and is scanned in
// full once unshallowed.
func TestShallowCloneIsPartialUntilUnshallowed(t *testing.T) {
	r := testenv.NewRepo(t)
	r.Commit("old", map[string]string{"old.py": "AWS = '" + testenv.FakeAWSKey() + "'\n"})
	for i := 0; i < 3; i++ {
		r.Commit("c", map[string]string{"n.txt": strings.Repeat("x", i+1)})
	}
	clone := filepath.Join(t.TempDir(), "clone")
	git(t, "", "clone", "-q", "--depth", "1", "file://"+r.Dir, clone)
	s, st := gitScanner(t, clone), &memState{}
	res := scan(t, s, st)
	if len(res) != 1 || res[0].Mode != scanners.Partial || res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "shallow") {
		t.Fatalf("shallow: %+v", res)
	}
	git(t, clone, "fetch", "-q", "--unshallow")
	got := only(t, scan(t, s, st))
	if got.Mode != scanners.Full || len(got.Findings) != 1 {
		t.Fatalf("after unshallow: mode %v, %d findings", got.Mode, len(got.Findings))
	}
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// Two different secrets of one rule decoded from one encoded blob start at
// the same line and column: both are kept, under different ids, and the
// ids are stable across scans.
func TestDecodedSecretsAtOnePlaceAreTwoFindings(t *testing.T) {
	k1, k2 := testenv.FakeAWSKey(), testenv.FakeAWSKey()
	blob := base64.StdEncoding.EncodeToString([]byte("aws_access_key_id=" + k1 + " aws_access_key_id=" + k2))
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "blob.txt"), []byte("data = \""+blob+"\"\n"), 0o644)
	s := newScanner(t)
	s.Dirs = []DirTarget{{Name: "d", Path: dir}}
	ids := func() map[string]string {
		r := only(t, scan(t, s, &memState{}))
		out := map[string]string{}
		for _, f := range r.Findings {
			if f.Evidence["rule"] == "aws-access-token" {
				out[f.ID] = f.Evidence["secret_hash"].(string)
			}
		}
		return out
	}
	a, b := ids(), ids()
	want := map[string]bool{s.Engine.Hasher.Hash(k1): true, s.Engine.Hasher.Hash(k2): true}
	got := map[string]bool{}
	for _, h := range a {
		got[h] = true
	}
	if len(a) != 2 || !want[s.Engine.Hasher.Hash(k1)] || !got[s.Engine.Hasher.Hash(k1)] || !got[s.Engine.Hasher.Hash(k2)] {
		t.Fatalf("%d distinct findings for two decoded secrets (want both values' hashes): %v", len(a), a)
	}
	for id, h := range a {
		if b[id] != h {
			t.Fatalf("ids differ between scans: %v %v", a, b)
		}
	}
}

// A path-only rule (gitleaks reports it at line 0) keeps line 0 when the
// hunk cache replays it for the same text added at another position.
func TestHunkReplayKeepsPathOnlyLine(t *testing.T) {
	r := testenv.NewRepo(t)
	r.Commit("base", map[string]string{"cert.p12": "a\nb\nc\n"})
	r.Git("checkout", "-q", "-b", "side")
	r.Commit("grow", map[string]string{"cert.p12": "a\nb\nc\nZZZZ\n"}) // hunk "ZZZZ" at line 4
	r.Git("checkout", "-q", "--orphan", "other")
	r.Git("rm", "-q", "-rf", ".")
	r.Commit("fresh", map[string]string{"cert.p12": "ZZZZ\n"}) // the same hunk at line 1
	for i := 0; i < 3; i++ {                                   // the cache is filled by whichever comes first
		res := only(t, scan(t, gitScanner(t, r.Dir), &memState{}))
		if n := count(res.Findings, "pkcs12-file"); n < 3 {
			t.Fatalf("%d pkcs12-file findings: the fixture does not exercise the rule", n)
		}
		for _, f := range res.Findings {
			if f.Evidence["rule"] == "pkcs12-file" && f.Evidence["line"] != 0 {
				t.Fatalf("pkcs12-file finding at line %v of commit %v", f.Evidence["line"], f.Evidence["commit"])
			}
		}
	}
}

func count(fs []finding.Finding, rule string) int {
	n := 0
	for _, f := range fs {
		if f.Evidence["rule"] == rule {
			n++
		}
	}
	return n
}

// The same source name for two repositories: an ad hoc scan refuses to
// merge them, instead of rescanning both in full every time.
func TestStrictIdentityRefusesAnotherRepository(t *testing.T) {
	a, b := testenv.NewRepo(t), testenv.NewRepo(t)
	a.Commit("a", map[string]string{"a": "a"})
	b.Commit("b", map[string]string{"b": "b"})
	st := &memState{}
	s := newScanner(t)
	s.Git = []GitTarget{{Name: "repo", Path: a.Dir, StrictIdentity: true}}
	only(t, scan(t, s, st))
	s.Git = []GitTarget{{Name: "repo", Path: b.Dir, StrictIdentity: true}}
	res := scan(t, s, st)
	if len(res) != 1 || res[0].Err == nil || !strings.Contains(res[0].Err.Error(), a.Dir) {
		t.Fatalf("second repository under the same name: %+v", res)
	}
}

func sha256hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// A night with nothing new compiles no rule: the stored scan states are
// compared with the rules' fingerprint, which is known from the rule file
// alone. Two copies of one file stand for two nightly processes (a process
// compiles a file once).
func TestNothingNewCompilesNoRule(t *testing.T) {
	const toml = "[extend]\nuseDefault = true\n[[rules]]\nid = \"internal-ticket\"\nregex = '''INTERNAL-[0-9a-f]{16}'''\n"
	r := testenv.NewRepo(t)
	r.Commit("a", map[string]string{"a.txt": "ticket INTERNAL-abcdefabcdef0123\n"})
	dir := t.TempDir()
	appendFile(t, filepath.Join(dir, "app.log"), "ticket INTERNAL-0123456789abcdef issued\n")
	st := &memState{}
	night := func() (*Scanner, []scanners.Result) {
		s := newScanner(t)
		s.Engine = customEngine(t, toml)
		s.Git = []GitTarget{{Name: "repo", Path: r.Dir}}
		s.Logs = []LogTarget{{Name: "app", Paths: []string{filepath.Join(dir, "*.log")}}}
		if s.Engine.Rules.Compiled() {
			t.Fatal("the rules were compiled before any scan")
		}
		return s, scan(t, s, st)
	}
	s, res := night()
	if len(res) != 2 || len(res[0].Findings)+len(res[1].Findings) != 2 || !s.Engine.Rules.Compiled() {
		t.Fatalf("first night: %+v", res)
	}
	s, res = night()
	for _, r := range res {
		if r.Mode != scanners.Incremental || r.Err != nil || r.Note != "" {
			t.Fatalf("second night: %+v", r)
		}
	}
	if s.Engine.Rules.Compiled() {
		t.Error("a night with nothing new compiled the rules")
	}
	// Something new: now they are compiled, and the new line is read.
	appendFile(t, filepath.Join(dir, "app.log"), "ticket INTERNAL-fedcba9876543210 issued\n")
	s, res = night()
	if !s.Engine.Rules.Compiled() || len(res[1].Findings) != 1 {
		t.Fatalf("third night: compiled %v, %+v", s.Engine.Rules.Compiled(), res)
	}
}
