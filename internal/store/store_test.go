package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/testenv/pgtest"
)

// onPostgres is set in the second run of this package's tests (see
// TestSuiteOnPostgres): open then gives a fresh PostgreSQL database.
var onPostgres = os.Getenv("VIGIL_TEST_STORE") == "postgres"

func open(t *testing.T) *Store {
	t.Helper()
	h, _ := secrethash.New([]byte(strings.Repeat("s", 32)))
	where := filepath.Join(t.TempDir(), "v.db")
	if onPostgres {
		where = pgtest.Database(t)
	}
	s, err := Open(context.Background(), where, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func f(id string) finding.Finding {
	return finding.Finding{ID: id, Kind: finding.KindLeakGit, Severity: finding.High, Scanner: "leaks",
		Resource: "repo:x@1:" + id, Title: "t", Evidence: finding.Evidence{"rule": "r"}}
}

func run(t *testing.T, s *Store, batches ...Batch) (string, Counts) {
	t.Helper()
	ctx := context.Background()
	id, err := s.BeginRun(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	var total Counts
	for _, b := range batches {
		c, err := s.Apply(ctx, id, b)
		if err != nil {
			t.Fatal(err)
		}
		total.Add(c)
	}
	if err := s.FinishRun(ctx, id, RunOK, nil); err != nil {
		t.Fatal(err)
	}
	return id, total
}

func status(t *testing.T, s *Store, id string) finding.Status {
	t.Helper()
	fs, err := s.Findings(context.Background(), Filter{IDs: []string{id}})
	if err != nil || len(fs) != 1 {
		t.Fatalf("finding %s: %v (%d)", id, err, len(fs))
	}
	return fs[0].Status
}

func TestLifecycleAcrossRuns(t *testing.T) {
	s := open(t)
	day := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return day })
	src := "git:x"

	_, c := run(t, s, Batch{Source: src, Mode: Full, Findings: []finding.Finding{f("a"), f("b")}})
	if c != (Counts{New: 2}) {
		t.Fatalf("night 1: %+v", c)
	}
	day = day.Add(24 * time.Hour)
	_, c = run(t, s, Batch{Source: src, Mode: Full, Findings: []finding.Finding{f("a"), f("b")}})
	if c != (Counts{StillOpen: 2}) {
		t.Fatalf("night 2: %+v", c)
	}
	// b is gone in a full scan: resolved. An incremental scan after that
	// carries a forward without seeing it.
	day = day.Add(24 * time.Hour)
	r3, c := run(t, s, Batch{Source: src, Mode: Full, Findings: []finding.Finding{f("a")}})
	if c != (Counts{StillOpen: 1, Resolved: 1}) || status(t, s, "b") != finding.StatusResolved {
		t.Fatalf("night 3: %+v", c)
	}
	tr, _ := s.Transitions(context.Background(), r3)
	if tr["b"] != finding.Resolved || len(tr) != 1 {
		t.Errorf("night 3 transitions %v", tr)
	}
	day = day.Add(24 * time.Hour)
	_, c = run(t, s, Batch{Source: src, Mode: Incremental})
	if c != (Counts{StillOpen: 1}) || status(t, s, "a") != finding.StatusOpen {
		t.Fatalf("night 4 incremental: %+v", c)
	}
	fs, _ := s.Findings(context.Background(), Filter{IDs: []string{"a"}})
	if !fs[0].LastSeen.Equal(day) || !fs[0].FirstSeen.Equal(day.Add(-72*time.Hour)) {
		t.Errorf("a first/last seen %v %v", fs[0].FirstSeen, fs[0].LastSeen)
	}
	// b comes back: regressed, open again.
	day = day.Add(24 * time.Hour)
	r5, c := run(t, s, Batch{Source: src, Mode: Full, Findings: []finding.Finding{f("a"), f("b")}})
	if c != (Counts{StillOpen: 1, Regressed: 1}) || status(t, s, "b") != finding.StatusOpen {
		t.Fatalf("night 5: %+v", c)
	}
	if tr, _ := s.Transitions(context.Background(), r5); tr["b"] != finding.Regressed {
		t.Errorf("night 5 transitions %v", tr)
	}
	// A partial (failed) source resolves nothing, and another source's full
	// scan never resolves this source's findings.
	_, c = run(t, s, Batch{Source: src, Mode: Partial}, Batch{Source: "dir:y", Mode: Full})
	if c.Resolved != 0 || status(t, s, "a") != finding.StatusOpen {
		t.Fatalf("partial: %+v", c)
	}
	// Suppressed stays suppressed when seen again.
	if err := s.Suppress(context.Background(), []string{"a"}, "test fixture"); err != nil {
		t.Fatal(err)
	}
	run(t, s, Batch{Source: src, Mode: Full, Findings: []finding.Finding{f("a"), f("b")}})
	if status(t, s, "a") != finding.StatusSuppressed {
		t.Error("suppressed finding reopened")
	}
	open, _ := s.Findings(context.Background(), Filter{Status: []string{"open"}, Kind: []finding.Kind{finding.KindLeakGit}})
	if len(open) != 1 || open[0].ID != "b" {
		t.Errorf("open filter: %d", len(open))
	}
}

// A finding seen again unchanged only has its last run moved (many at a
// time); one whose content changed is rewritten; neither is resolved.
func TestSeenAgainUnchangedAndChanged(t *testing.T) {
	s := open(t)
	day := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return day })
	var fs []finding.Finding
	for i := 0; i < 1200; i++ { // more than one chunk of ids
		fs = append(fs, f(fmt.Sprintf("k%04d", i)))
	}
	run(t, s, Batch{Source: "git:x", Mode: Full, Findings: fs})
	day = day.Add(24 * time.Hour)
	fs[7].Title, fs[7].Severity = "changed", finding.Critical
	fs[8].Evidence = finding.Evidence{"rule": "r", "more": "x"}
	r2, c := run(t, s, Batch{Source: "git:x", Mode: Full, Findings: fs})
	if seen, _ := s.Findings(context.Background(), Filter{RunID: r2}); len(seen) != 1200 {
		t.Fatalf("run 2 saw %d findings (last_run_id), want 1200", len(seen))
	}
	if c != (Counts{StillOpen: 1200}) {
		t.Fatalf("night 2: %+v", c)
	}
	got, _ := s.Findings(context.Background(), Filter{Source: "git:x"})
	for _, g := range got {
		if g.Status != finding.StatusOpen || !g.LastSeen.Equal(day) {
			t.Fatalf("%s: %s, last seen %v", g.ID, g.Status, g.LastSeen)
		}
		switch g.ID {
		case "k0007":
			if g.Title != "changed" || g.Severity != finding.Critical {
				t.Errorf("k0007 not rewritten: %q %s", g.Title, g.Severity)
			}
		case "k0008":
			if g.Evidence.String("more") != "x" {
				t.Errorf("k0008 evidence not rewritten: %v", g.Evidence)
			}
		}
	}
}

func TestStateCommitsWithFindings(t *testing.T) {
	s := open(t)
	run(t, s, Batch{Source: "git:x", Mode: Full, State: `{"v":1}`})
	if st, _ := s.ScanState(context.Background(), "git:x"); st != `{"v":1}` {
		t.Fatalf("state %q", st)
	}
	// Partial batches never move the state.
	run(t, s, Batch{Source: "git:x", Mode: Partial, State: `{"v":2}`})
	if st, _ := s.ScanState(context.Background(), "git:x"); st != `{"v":1}` {
		t.Fatalf("state after partial %q", st)
	}
}

func exec1(t *testing.T, s *Store, q string, args ...any) {
	t.Helper()
	if _, err := s.db.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

func TestAuditChainDetectsTampering(t *testing.T) {
	cases := []struct {
		name, sql, want string
	}{
		{"edit", `UPDATE audit_log SET detail = '{"status":"ok"}' WHERE seq = 3`, "row 3"},
		{"delete middle", `DELETE FROM audit_log WHERE seq = 2`, "missing"},
		{"delete tail", `DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)`, "deleted from the end"},
		{"forge head", `UPDATE meta SET value = '1:x:y' WHERE key = 'audit_head'`, "head was modified"},
		{"re-hash without key", `UPDATE audit_log SET actor = 'mallory', hash = 'abc' WHERE seq = 1`, "row 1"},
		{"empty the chain", `DELETE FROM audit_log; DELETE FROM meta WHERE key = 'audit_head'`, "chain was deleted"},
		{"reopen a finding by hand", `UPDATE findings SET status = 'open' WHERE id = 'x'`, "its status was edited"},
		{"insert a finding by hand", `INSERT INTO findings(id, kind, severity, scanner, source, resource, title, detail, status,
			first_seen, last_seen, first_run_id, last_run_id) SELECT 'y', kind, severity, scanner, source, resource, title, detail,
			status, first_seen, last_seen, first_run_id, last_run_id FROM findings WHERE id = 'x'`, "not in the audit chain"},
		{"delete a finding", `DELETE FROM findings WHERE id = 'x'`, "were deleted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			run(t, s, Batch{Source: "a", Findings: []finding.Finding{f("x")}})
			run(t, s, Batch{Source: "a"})
			n, problems, err := s.VerifyAudit(context.Background(), "")
			if err != nil || len(problems) != 0 || n < 6 {
				t.Fatalf("intact chain: %d rows, %v, %v", n, problems, err)
			}
			exec1(t, s, tc.sql)
			_, problems, err = s.VerifyAudit(context.Background(), "")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(problems, "\n"), tc.want) {
				t.Fatalf("problems %q do not mention %q", problems, tc.want)
			}
		})
	}
}

func TestLockTakesOverFromDeadProcessOnly(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	if err := s.Lock(ctx, "run", "r1", time.Minute); err != nil {
		t.Fatal(err)
	}
	// Held by this (live) process: refused.
	if err := s.Lock(ctx, "run", "r2", time.Minute); err == nil {
		t.Fatal("second lock taken while the holder lives")
	}
	// A holder whose pid is gone is taken over.
	dead := exec.Command("true")
	dead.Run()
	r1, _ := s.BeginRun(ctx, "killed later")
	exec1(t, s, `UPDATE locks SET pid = ?, holder = ? WHERE name = 'run'`, dead.Process.Pid, r1)
	if err := s.Lock(ctx, "run", "r3", time.Minute); err != nil {
		t.Fatalf("stale lock not taken over: %v", err)
	}
	runs, _ := s.Runs(ctx, time.Time{}, time.Time{})
	if len(runs) != 1 || runs[0].Status != RunAborted {
		t.Fatalf("the dead holder's run: %+v", runs)
	}
}

func TestAbandonedRunIsMarkedAborted(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	id, _ := s.BeginRun(ctx, "killed")
	// The process died without finishing and without its lock.
	next, _ := s.BeginRun(ctx, "next")
	runs, _ := s.Runs(ctx, time.Time{}, time.Time{})
	got := map[string]string{}
	for _, r := range runs {
		got[r.ID] = r.Status
	}
	if got[id] != RunAborted || got[next] != RunRunning {
		t.Fatalf("statuses %v", got)
	}
}

func TestMigrationUpgradesOldDatabaseInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	// A database as an older vigil left it: only the migrations table and
	// no schema yet, plus a row in a table the new schema must keep.
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	h, _ := secrethash.New([]byte(strings.Repeat("s", 32)))
	s, err := Open(context.Background(), path, h)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	s.db.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&v)
	if v != SchemaVersion() {
		t.Fatalf("version %d", v)
	}
	s.Close()
	// Reopening applies nothing twice.
	if s, err = Open(context.Background(), path, h); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A database from a newer vigil is refused, not corrupted.
	db, _ = sql.Open("sqlite", "file:"+path)
	db.Exec(`INSERT INTO schema_migrations(version, applied_at) VALUES (999, 'x')`)
	db.Close()
	if _, err := Open(context.Background(), path, h); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("newer schema: %v", err)
	}
}

// TestSuiteOnPostgres runs every test of this package again with open
// giving a real PostgreSQL database (Debian's server, started by pgtest):
// no feature of the store is SQLite's alone. The tests that are about the
// SQLite file itself (its mode, its -shm, its migration from an old file)
// open it by path and run the same in both.
func TestSuiteOnPostgres(t *testing.T) {
	if onPostgres {
		return // this is the second run
	}
	pgtest.Database(t) // the server starts (or, under CI=true, its absence fails) here
	args := []string{"-test.count=1", "-test.run", "^Test"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "VIGIL_TEST_STORE=postgres")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the store's tests on PostgreSQL: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatalf("the store's tests on PostgreSQL did not report: %s", out)
	}
	t.Logf("%s", out)
}
