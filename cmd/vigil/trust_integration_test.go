package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/testenv"
)

// hangingGitServer accepts connections and never answers: a clone from it
// blocks until vigil gives up, which is how a run is caught mid-way.
func hangingGitServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String() + "/stuck.git"
}

// stuckConfig writes stuck.yaml: the fixture's database, and one git
// source at the hanging server.
func (fx *fixture) stuckConfig(t *testing.T, url, extra string) {
	t.Helper()
	body := "db: state/vigil.db\n" + extra + "sources:\n  git:\n    - name: stuck\n      url: " + url + "\n"
	if err := os.WriteFile(filepath.Join(fx.dir, "stuck.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startVigil starts vigil in the background, under hostname host (in a UTS
// namespace of its own) when host is set.
func startVigil(t *testing.T, dir, host string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	name, argv := vigilBin, args
	if host != "" {
		testenv.Required(t, "unshare")
		name = "unshare"
		argv = append([]string{"-u", "sh", "-c", `hostname "$0" && exec "$@"`, host, vigilBin}, args...)
	}
	cmd := exec.Command(name, argv...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "VIGIL_HASH_KEY=")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &stderr
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func leaseHost(t *testing.T, dbPath string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var h string
	db.QueryRow(`SELECT host FROM locks WHERE name = 'run'`).Scan(&h)
	return h
}

// A run killed with SIGKILL on one host (a CronJob pod) must not block the
// next night's run on another host: its lease expires and is taken over,
// and the takeover is in the audit chain.
func TestKilledPodLeaseIsTakenOverFromAnotherHost(t *testing.T) {
	fx := newFixture(t)
	stuck := hangingGitServer(t)
	fx.stuckConfig(t, stuck, "lease_ttl: 2s\n")
	fx.config(t, "lease_ttl: 2s\n")
	dbPath := filepath.Join(fx.dir, "state", "vigil.db")

	cmd, out := startVigil(t, fx.dir, "vigil-nightly-pod-a", "run", "--config", "stuck.yaml")
	waitFor(t, "the first run's lease", func() bool { return strings.HasPrefix(leaseHost(t, dbPath), "vigil-nightly-pod-a") })
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	// While its lease lives, another host is refused, and unlock refuses
	// without --force.
	r := vigil(t, fx.dir, "run", "--config", "vigil.yaml")
	if r.code == exitFindings || !strings.Contains(r.stderr, "holds the lock") {
		t.Logf("(the lease may already have expired: %d %s)", r.code, r.stderr)
	}
	time.Sleep(2500 * time.Millisecond)
	next, out2 := startVigil(t, fx.dir, "vigil-nightly-pod-b", "run", "--config", "vigil.yaml", "--quiet")
	err := next.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFindings {
		t.Fatalf("the next night's run on another host: %v\n%s\n(first run: %s)", err, out2, out)
	}
	if n := count(t, dbPath, `SELECT COUNT(*) FROM runs WHERE status = 'aborted'`); n != 1 {
		t.Errorf("the killed run is not marked aborted (%d)", n)
	}
	if n := count(t, dbPath, `SELECT COUNT(*) FROM audit_log WHERE action = 'lock.takeover' AND detail LIKE '%vigil-nightly-pod-a%'`); n != 1 {
		t.Errorf("the takeover is not audited (%d)", n)
	}
	if r := vigil(t, fx.dir, "audit", "verify", "--config", "vigil.yaml"); r.code != 0 {
		t.Errorf("audit verify: %d %s %s", r.code, r.stdout, r.stderr)
	}
}

func TestUnlockRefusesLiveLeaseUnlessForced(t *testing.T) {
	fx := newFixture(t)
	stuck := hangingGitServer(t)
	fx.config(t, "")
	fx.stuckConfig(t, stuck, "")
	dbPath := filepath.Join(fx.dir, "state", "vigil.db")
	if r := vigil(t, fx.dir, "run", "--config", "vigil.yaml", "-q"); r.code != exitFindings {
		t.Fatalf("first run: %d %s", r.code, r.stderr)
	}
	cmd, _ := startVigil(t, fx.dir, "", "run", "--config", "stuck.yaml")
	defer cmd.Process.Kill()
	waitFor(t, "the lease", func() bool { return leaseHost(t, dbPath) != "" })
	if r := vigil(t, fx.dir, "unlock", "--config", "vigil.yaml"); r.code != exitFindings || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("unlock of a live lease: %d %s", r.code, r.stderr)
	}
	if r := vigil(t, fx.dir, "unlock", "--config", "vigil.yaml", "--force"); r.code != 0 || !strings.Contains(r.stdout, "cleared") {
		t.Fatalf("unlock --force: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if n := count(t, dbPath, `SELECT COUNT(*) FROM audit_log WHERE action = 'lock.unlock'`); n != 1 {
		t.Errorf("unlock not audited (%d)", n)
	}
	// The holder learns at its next renewal that it lost the lease.
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
}

// SIGTERM (a CronJob's deadline) ends a run within 5 s even while a source
// blocks, with the partial exit code, the run closed and the lease released.
func TestSIGTERMEndsABlockedRunWithinFiveSeconds(t *testing.T) {
	fx := newFixture(t)
	stuck := hangingGitServer(t)
	fx.config(t, "")
	fx.stuckConfig(t, stuck, "")
	dbPath := filepath.Join(fx.dir, "state", "vigil.db")
	cmd, out := startVigil(t, fx.dir, "", "run", "--config", "stuck.yaml")
	waitFor(t, "the lease", func() bool { return leaseHost(t, dbPath) != "" })
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("SIGTERM took %v to end the run", took)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitPartial {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, out)
	}
	if n := count(t, dbPath, `SELECT COUNT(*) FROM runs WHERE status = 'running'`); n != 0 {
		t.Errorf("%d runs left running", n)
	}
	if r := vigil(t, fx.dir, "run", "--config", "vigil.yaml", "-q"); r.code != exitFindings {
		t.Fatalf("the next run is blocked: %d %s", r.code, r.stderr)
	}
}

// A FIFO matched by a log glob does not hang the run.
func TestFIFOInLogsDoesNotHangTheRun(t *testing.T) {
	fx := newFixture(t)
	if err := syscall.Mkfifo(filepath.Join(fx.dir, "logs", "pipe.log"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan result, 1)
	go func() { done <- vigil(t, fx.dir, "run", "--config", "vigil.yaml", "-q") }()
	select {
	case r := <-done:
		if r.code != exitFindings {
			t.Fatalf("run with a FIFO in logs: %d %s", r.code, r.stderr)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the run hangs on a FIFO")
	}
}

// A token in a git URL reaches git through a credential helper: it is in
// no output, report, database byte, log line or git argument list.
func TestTokenInGitURLNeverComesOut(t *testing.T) {
	fx := newFixture(t)
	token := testenv.FakeGitHubToken()
	fx.secrets = append(fx.secrets, token)
	root := t.TempDir()
	src := testenv.NewRepo(t)
	leak := testenv.FakeAWSKey()
	fx.secrets = append(fx.secrets, leak)
	src.Commit("leak", map[string]string{"k.py": "K = '" + leak + "'\n"})
	exec.Command("git", "clone", "-q", "--bare", src.Dir, filepath.Join(root, "svc.git")).Run()
	base, seen := testenv.GitHTTP(t, root, "x-access-token", token)
	authed := strings.Replace(base, "http://", "http://x-access-token:"+token+"@", 1)

	// A git on PATH that records its arguments before running the real one.
	shim := t.TempDir()
	realGit, _ := exec.LookPath("git")
	argsLog := filepath.Join(shim, "args.log")
	os.WriteFile(filepath.Join(shim, "git"), []byte("#!/bin/sh\nprintf '%s\\n' \"$*\" >> "+argsLog+"\nexec "+realGit+" \"$@\"\n"), 0o755)
	t.Setenv("PATH", shim+":"+os.Getenv("PATH"))

	fx.config(t, "")
	cfg, _ := os.ReadFile(filepath.Join(fx.dir, "vigil.yaml"))
	cfg = bytes.Replace(cfg, []byte("  git:\n"), []byte("  git:\n    - name: svc\n      url: "+authed+"svc.git\n    - name: nope\n      url: "+authed+"missing.git\n"), 1)
	os.WriteFile(filepath.Join(fx.dir, "vigil.yaml"), cfg, 0o644)

	var outputs []string
	for i := 0; i < 2; i++ { // clone, then update the mirror
		r := vigil(t, fx.dir, "run", "--config", "vigil.yaml", "--out", "out", "--metrics", "out/vigil.prom")
		if r.code != exitPartial || !strings.Contains(r.stderr, "nope") {
			t.Fatalf("run %d: %d (want partial: one repository is missing)\n%s", i, r.code, r.stderr)
		}
		outputs = append(outputs, r.stdout, r.stderr)
	}
	if !strings.Contains(outputs[0], "leak.git") {
		t.Fatalf("the repository behind the authenticated URL was not scanned:\n%s", outputs[0])
	}
	if len(seen()) == 0 {
		t.Fatal("the server saw no credentials")
	}
	args, _ := os.ReadFile(argsLog)
	if len(args) == 0 {
		t.Fatal("the git shim recorded nothing")
	}
	outputs = append(outputs, string(args))
	// The mirror's config keeps a URL without the token.
	mirrors, _ := filepath.Glob(filepath.Join(fx.dir, "state", ".vigil-cache", "git", "*.git", "config"))
	for _, m := range mirrors {
		b, _ := os.ReadFile(m)
		outputs = append(outputs, string(b))
	}
	fx.assertNoSecrets(t, outputs...)
}

// Two repositories whose paths end alike are two sources, never one.
func TestScanRefusesTwoRepositoriesUnderOneName(t *testing.T) {
	a, b := testenv.NewRepo(t), testenv.NewRepo(t)
	a.Commit("a", map[string]string{"a": "a"})
	b.Commit("b", map[string]string{"b": "b"})
	dir := t.TempDir()
	r := vigil(t, dir, "scan", "git", a.Dir, b.Dir, "--db", "v.db")
	if r.code != exitUsage || !strings.Contains(r.stderr, `would both be source "repo"`) {
		t.Fatalf("scan of two repos named alike: %d %s", r.code, r.stderr)
	}
	if r := vigil(t, dir, "scan", "git", a.Dir, "--db", "v.db"); r.code != 0 {
		t.Fatalf("first: %d %s", r.code, r.stderr)
	}
	if r := vigil(t, dir, "scan", "git", b.Dir, "--db", "v.db"); r.code != exitPartial || !strings.Contains(r.stderr, "another --name") {
		t.Fatalf("second repository under the first's name: %d %s", r.code, r.stderr)
	}
}

// Commands that only read never create a database or a key.
func TestReadOnlyCommandsNeverCreateADatabase(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"findings", "list"}, {"findings", "ledger"}, {"audit", "verify"}, {"report", "json"},
		{"findings", "suppress", "abc", "--reason", "x"}, {"unlock"},
	} {
		r := vigil(t, dir, args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "no vigil database") {
			t.Errorf("%v: %d %s", args, r.code, r.stderr)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("a read-only command created %v", ents[0].Name())
	}
}

// A database whose key is gone is an error, not a silent new key; --new-key
// starts over deliberately, and says so in the chain.
func TestLostKeyIsAnErrorUnlessNewKey(t *testing.T) {
	fx := newFixture(t)
	if r := vigil(t, fx.dir, "run", "--config", "vigil.yaml", "-q"); r.code != exitFindings {
		t.Fatal(r.stderr)
	}
	os.Remove(filepath.Join(fx.dir, "state", "vigil.key"))
	for _, args := range [][]string{{"run", "--config", "vigil.yaml"}, {"audit", "verify", "--config", "vigil.yaml"}} {
		r := vigil(t, fx.dir, args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "hash key is missing") || !strings.Contains(r.stderr, "--new-key") {
			t.Fatalf("%v without its key: %d %s", args, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(fx.dir, "state", "vigil.key")); err == nil {
		t.Fatal("a key was created silently")
	}
	r := vigil(t, fx.dir, "run", "--config", "vigil.yaml", "--new-key", "-q")
	if r.code != exitFindings {
		t.Fatalf("--new-key: %d %s", r.code, r.stderr)
	}
	if v := vigil(t, fx.dir, "audit", "verify", "--config", "vigil.yaml"); v.code != exitFindings || !strings.Contains(v.stdout, "written under a previous hash key") || strings.Contains(v.stdout, "modified") {
		t.Fatalf("rows made under the old key must not verify: %d %s", v.code, v.stdout)
	}
}

// Ids are taken as unique prefixes; an unknown one is an error.
func TestIDPrefixesAndUnknownIDs(t *testing.T) {
	fx := newFixture(t)
	r := vigil(t, fx.dir, "run", "--config", "vigil.yaml", "--format", "json", "-q")
	var fs []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &fs); err != nil || len(fs) == 0 {
		t.Fatalf("run: %v %s", err, r.stdout)
	}
	// A run's own JSON says which findings are new, as the table does.
	for _, f := range fs {
		if f["status"] != "open" || f["transition"] != "new" {
			t.Fatalf("first sighting in JSON: status %v transition %v", f["status"], f["transition"])
		}
	}
	id := fs[0]["id"].(string)
	if r := vigil(t, fx.dir, "findings", "suppress", id[:12], "--config", "vigil.yaml", "--reason", "test"); r.code != 0 {
		t.Fatalf("suppress by prefix: %d %s", r.code, r.stderr)
	}
	if r := vigil(t, fx.dir, "findings", "suppress", "ffffffffffff", "--config", "vigil.yaml", "--reason", "test"); r.code != exitUsage || !strings.Contains(r.stderr, "no finding") {
		t.Fatalf("unknown id: %d %s", r.code, r.stderr)
	}
	if r := vigil(t, fx.dir, "remediate", "plan", "--config", "vigil.yaml", "--finding", "ffffffffffff"); r.code != exitUsage {
		t.Fatalf("remediate plan with an unknown id: %d %s", r.code, r.stderr)
	}
	if r := vigil(t, fx.dir, "audit", "verify", "--config", "vigil.yaml"); r.code != 0 {
		t.Fatalf("verify after a suppression: %d %s %s", r.code, r.stdout, r.stderr)
	}
}

// A file name with a newline and an escape sequence can neither add a fake
// row to the table nor reach the terminal raw.
func TestHostileFileNamesAreEscapedInTables(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "conf")
	os.MkdirAll(conf, 0o755)
	hostile := "x\nhigh      new     leak.git  FAKE ROW\x1b[2J.env"
	os.WriteFile(filepath.Join(conf, hostile), []byte("AWS="+testenv.FakeAWSKey()+"\n"), 0o644)
	r := vigil(t, dir, "scan", "dir", conf, "--db", "v.db")
	if r.code != exitFindings {
		t.Fatalf("scan: %d %s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout, "\x1b") || strings.Count(r.stdout, "\n") != 2 || !strings.Contains(r.stdout, `\n`) {
		t.Fatalf("table:\n%q", r.stdout)
	}
	if !strings.Contains(strings.SplitN(r.stdout, "\n", 2)[0], "TITLE") {
		t.Errorf("the table has no TITLE column: %q", r.stdout)
	}
}

// Every run writes the chain head to its outputs; verify checks a kept
// head; an emptied chain in a database with runs fails.
func TestAuditHeadIsAnchoredOutsideTheDatabase(t *testing.T) {
	fx := newFixture(t)
	r := vigil(t, fx.dir, "run", "--config", "vigil.yaml", "--out", "out", "--metrics", "out/vigil.prom", "-q")
	if r.code != exitFindings {
		t.Fatal(r.stderr)
	}
	md, _ := os.ReadFile(filepath.Join(fx.dir, "out", "summary.md"))
	prom, _ := os.ReadFile(filepath.Join(fx.dir, "out", "vigil.prom"))
	i := strings.Index(string(md), "Audit chain head: `")
	if i < 0 || !strings.Contains(string(prom), "vigil_audit_head_seq{hash=") {
		t.Fatalf("no head in the outputs:\n%s\n%s", md, prom)
	}
	head := strings.SplitN(string(md[i+len("Audit chain head: `"):]), "`", 2)[0]
	if v := vigil(t, fx.dir, "audit", "verify", "--config", "vigil.yaml", "--expect-head", head); v.code != 0 {
		t.Fatalf("verify with the run's head: %d %s", v.code, v.stdout)
	}
	dbPath := filepath.Join(fx.dir, "state", "vigil.db")
	db, _ := sql.Open("sqlite", dbPath)
	db.Exec(`UPDATE findings SET status = 'resolved' WHERE kind = 'leak.git'`)
	db.Close()
	if v := vigil(t, fx.dir, "audit", "verify", "--config", "vigil.yaml"); v.code != exitFindings || !strings.Contains(v.stdout, "its status was edited") {
		t.Fatalf("a hand-resolved finding: %d %s", v.code, v.stdout)
	}
	db, _ = sql.Open("sqlite", dbPath)
	db.Exec(`DELETE FROM audit_log; DELETE FROM meta WHERE key = 'audit_head'`)
	db.Close()
	if v := vigil(t, fx.dir, "audit", "verify", "--config", "vigil.yaml"); v.code != exitFindings || !strings.Contains(v.stdout, "chain was deleted") {
		t.Fatalf("an emptied chain: %d %s", v.code, v.stdout)
	}
}

// An empty rule file is refused before anything is scanned or resolved.
func TestEmptyRuleFileIsRefused(t *testing.T) {
	fx := newFixture(t)
	if r := vigil(t, fx.dir, "run", "--config", "vigil.yaml", "-q"); r.code != exitFindings {
		t.Fatal(r.stderr)
	}
	os.WriteFile(filepath.Join(fx.dir, "empty.toml"), nil, 0o644)
	fx.config(t, "rules:\n  gitleaks: empty.toml\n")
	r := vigil(t, fx.dir, "run", "--config", "vigil.yaml")
	if r.code != exitUsage || !strings.Contains(r.stderr, filepath.Join(fx.dir, "empty.toml")+": the rule set has no rules") {
		t.Fatalf("empty rules: %d %s", r.code, r.stderr)
	}
	if n := count(t, filepath.Join(fx.dir, "state", "vigil.db"), `SELECT COUNT(*) FROM findings WHERE status = 'resolved'`); n != 0 {
		t.Fatalf("%d findings resolved by an empty rule set", n)
	}
}

// Two first runs at once on a fresh database: one migrates, neither sees a
// raw SQLite error; the loser, if any, is told another run holds the lock.
func TestTwoFirstRunsAtOnce(t *testing.T) {
	fx := newFixture(t)
	stuck := hangingGitServer(t)
	// The first run blocks on a source, so the second surely meets its lease.
	fx.stuckConfig(t, stuck, "")
	type out struct {
		code   int
		stderr string
	}
	res := make(chan out, 2)
	for _, c := range []string{"stuck.yaml", "vigil.yaml"} {
		go func(c string) {
			cmd, buf := startVigil(t, fx.dir, "", "run", "--config", c, "-q")
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				cmd.Process.Signal(syscall.SIGTERM)
				err = <-done
			}
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
			res <- out{code, buf.String()}
		}(c)
	}
	for i := 0; i < 2; i++ {
		r := <-res
		for _, bad := range []string{"SQLITE_BUSY", "already exists", "database is locked"} {
			if strings.Contains(r.stderr, bad) {
				t.Errorf("a first run failed with %q: %s", bad, r.stderr)
			}
		}
		if r.code != exitPartial && r.code != exitFindings {
			t.Errorf("exit %d: %s", r.code, r.stderr)
		}
		if r.code == exitPartial && !strings.Contains(r.stderr, "holds the lock") && !strings.Contains(r.stderr, "stuck") && !strings.Contains(r.stderr, "signal") && !strings.Contains(r.stderr, "canceled") {
			t.Errorf("exit 3 without saying why: %s", r.stderr)
		}
	}
}

// Narrower rules, then the defaults: the incremental database ends with
// what a fresh one finds, and both changes are explained in summary.md.
func TestRuleChangesRescanAndSaySo(t *testing.T) {
	fx := newFixture(t)
	os.WriteFile(filepath.Join(fx.dir, "narrow.toml"), []byte("[[rules]]\nid = \"github-only\"\nregex = '''ghp_[0-9a-zA-Z]{36}'''\nkeywords = [\"ghp_\"]\n"), 0o644)
	fx.config(t, "rules:\n  gitleaks: narrow.toml\n")
	if r := vigil(t, fx.dir, "run", "--config", "vigil.yaml", "-q"); r.code != exitFindings {
		t.Fatalf("narrow: %d %s", r.code, r.stderr)
	}
	fx.config(t, "")
	r := vigil(t, fx.dir, "run", "--config", "vigil.yaml", "--out", "out", "--format", "json")
	var fs []map[string]any
	json.Unmarshal([]byte(r.stdout), &fs)
	if r.code != exitFindings || len(fs) != 4 {
		t.Fatalf("defaults after narrow rules: %d, %d open findings (a fresh database finds 4)\n%s", r.code, len(fs), r.stderr)
	}
	md, _ := os.ReadFile(filepath.Join(fx.dir, "out", "summary.md"))
	if !strings.Contains(string(md), "rule set changed") || !strings.Contains(r.stderr, "rule set changed") {
		t.Fatalf("the rescan is not explained:\n%s\n%s", md, r.stderr)
	}
	// And back to the narrow set: what only the defaults found is resolved,
	// and the summary says it was the rules, not a fix.
	fx.config(t, "rules:\n  gitleaks: narrow.toml\n")
	vigil(t, fx.dir, "run", "--config", "vigil.yaml", "--out", "out", "-q")
	md, _ = os.ReadFile(filepath.Join(fx.dir, "out", "summary.md"))
	if !strings.Contains(string(md), "resolved only because their rules are no longer in the rule set") {
		t.Fatalf("resolution by a rule change is not said:\n%s", md)
	}
}
