package store

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/testenv/pgtest"
)

// An expired lease is taken over whatever host held it: a killed CronJob pod
// never returns under its hostname. The takeover is audited and the dead
// holder's run is aborted.
func TestExpiredLeaseIsTakenOverFromAnotherHost(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	r1, _ := s.BeginRun(ctx, "killed pod")
	if err := s.Lock(ctx, "run", r1, time.Minute); err != nil {
		t.Fatal(err)
	}
	exec1(t, s, `UPDATE locks SET host = 'vigil-nightly-abc12', pid = 1`)
	if err := s.Lock(ctx, "run", "r2", time.Minute); !errors.Is(err, ErrLocked) {
		t.Fatalf("live lease of another host taken: %v", err)
	}
	// The pod is gone; its lease runs out.
	s.SetClock(func() time.Time { return time.Now().Add(2 * time.Minute) })
	if err := s.Lock(ctx, "run", "r2", time.Minute); err != nil {
		t.Fatalf("expired lease not taken over: %v", err)
	}
	runs, _ := s.Runs(ctx, time.Time{}, time.Time{})
	if len(runs) != 1 || runs[0].Status != RunAborted {
		t.Fatalf("the dead holder's run: %+v", runs)
	}
	log, _ := s.AuditLog(ctx)
	if last := log[len(log)-1]; last.Action != "lock.takeover" || !strings.Contains(last.Detail, "vigil-nightly-abc12") {
		t.Fatalf("takeover not audited: %+v", last)
	}
}

func TestRenewKeepsLeaseAndReportsLoss(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	if err := s.Lock(ctx, "run", "r1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Renew(ctx, "run", "r1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ForceUnlock(ctx, "run", false); !errors.Is(err, ErrLocked) {
		t.Fatalf("unlock of a live lease without force: %v", err)
	}
	if _, err := s.ForceUnlock(ctx, "run", true); err != nil {
		t.Fatal(err)
	}
	if err := s.Renew(ctx, "run", "r1", time.Minute); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("renewing a cleared lease: %v", err)
	}
	// A lease of half a second, renewed every third of it: long enough
	// that a loaded machine (the whole suite runs packages in parallel)
	// still renews in time, short enough to see it renewed.
	hctx, release, err := s.Hold(ctx, "run", "r3", 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	time.Sleep(1200 * time.Millisecond) // past the first expiry: renewed at least twice
	var expires string
	s.db.QueryRow(`SELECT expires_at FROM locks WHERE name = 'run'`).Scan(&expires)
	if e := parseTS(sql.NullString{String: expires, Valid: true}); !time.Now().Before(e) {
		t.Fatalf("held lease not renewed: expires %s", expires)
	}
	if _, err := s.ForceUnlock(ctx, "run", true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hctx.Done():
		if !errors.Is(context.Cause(hctx), ErrLeaseLost) {
			t.Fatalf("cause %v", context.Cause(hctx))
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the holder was not told its lease was lost")
	}
}

// -wal and -shm must be as private as the database from the first byte.
func TestDatabaseFilesArePrivate(t *testing.T) {
	h, _ := secrethash.New([]byte(strings.Repeat("s", 32)))
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "v.db"), h)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	run(t, s, Batch{Source: "a", Findings: []finding.Finding{f("x")}})
	for _, p := range []string{s.Path(), s.Path() + "-wal", s.Path() + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", filepath.Base(p), fi.Mode().Perm())
		}
	}
}

func TestReadOnlyLeftoverShmIsNamed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "v.db")
	if err := os.WriteFile(path+"-shm", nil, 0o444); err != nil {
		t.Fatal(err)
	}
	h, _ := secrethash.New([]byte(strings.Repeat("s", 32)))
	_, err := Open(context.Background(), path, h)
	if err == nil || !strings.Contains(err.Error(), path+"-shm") || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("read-only -shm: %v", err)
	}
}

func TestOpenExistingNeverCreates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.db")
	h, _ := secrethash.New([]byte(strings.Repeat("s", 32)))
	if _, err := OpenExisting(context.Background(), path, h); !errors.Is(err, ErrNoDatabase) {
		t.Fatalf("err %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("a read-only open created the database")
	}
}

// Two first runs at once on a fresh database: both migrate, neither fails.
func TestConcurrentFirstOpensMigrateOnce(t *testing.T) {
	for i := 0; i < 5; i++ {
		path := filepath.Join(t.TempDir(), "v.db")
		if onPostgres {
			path = pgtest.Database(t) // four processes' first opens of a new shared database
		}
		h, _ := secrethash.New([]byte(strings.Repeat("s", 32)))
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for j := range errs {
			wg.Add(1)
			go func(j int) {
				defer wg.Done()
				s, err := Open(context.Background(), path, h)
				if err == nil {
					s.Close()
				}
				errs[j] = err
			}(j)
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("concurrent first open: %v", err)
			}
		}
		s, err := Open(context.Background(), path, h)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		s.db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n)
		s.Close()
		if n != SchemaVersion() {
			t.Fatalf("%d migrations recorded, want %d (each once)", n, SchemaVersion())
		}
	}
}

func TestResolveIDPrefixes(t *testing.T) {
	s := open(t)
	run(t, s, Batch{Source: "a", Findings: []finding.Finding{f("abc123"), f("abd456"), f("zzz")}})
	ctx := context.Background()
	if id, err := s.ResolveID(ctx, "finding", "abc"); err != nil || id != "abc123" {
		t.Fatalf("unique prefix: %q %v", id, err)
	}
	if _, err := s.ResolveID(ctx, "finding", "ab"); !errors.Is(err, ErrAmbiguousID) {
		t.Fatalf("ambiguous prefix: %v", err)
	}
	if _, err := s.ResolveID(ctx, "finding", "nope"); !errors.Is(err, ErrUnknownID) {
		t.Fatalf("unknown id: %v", err)
	}
}

// A chain cut back and re-headed from a backup passes the in-database
// checks; the head a run printed earlier catches it.
func TestExpectHeadCatchesRestoredBackup(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	run(t, s, Batch{Source: "a", Findings: []finding.Finding{f("x")}})
	var backupHead string
	s.db.QueryRow(`SELECT value FROM meta WHERE key = 'audit_head'`).Scan(&backupHead)
	var backupSeq int64
	s.db.QueryRow(`SELECT MAX(seq) FROM audit_log`).Scan(&backupSeq)
	run(t, s, Batch{Source: "a", Findings: []finding.Finding{f("x")}})
	anchor, err := s.AuditHead(ctx)
	if err != nil || anchor == "" {
		t.Fatal(anchor, err)
	}
	if _, p, _ := s.VerifyAudit(ctx, anchor); len(p) != 0 {
		t.Fatalf("intact chain with its anchor: %v", p)
	}
	// Cut the tail and restore the old signed head: consistent inside.
	exec1(t, s, `DELETE FROM audit_log WHERE seq > ?`, backupSeq)
	exec1(t, s, `UPDATE meta SET value = ? WHERE key = 'audit_head'`, backupHead)
	if _, p, _ := s.VerifyAudit(ctx, ""); len(p) != 0 {
		t.Fatalf("the restored chain should look intact on its own: %v", p)
	}
	if _, p, _ := s.VerifyAudit(ctx, anchor); len(p) == 0 || !strings.Contains(p[0], "cut from the end") {
		t.Fatalf("restored backup not caught by the anchor: %v", p)
	}
}

func TestResolvedByRuleChangeIsCounted(t *testing.T) {
	s := open(t)
	other := f("y")
	other.Evidence = finding.Evidence{"rule": "gone-rule"}
	run(t, s, Batch{Source: "a", Findings: []finding.Finding{f("x"), other}, Rules: []string{"r", "gone-rule"}})
	_, c := run(t, s, Batch{Source: "a", Rules: []string{"r"}})
	if c.Resolved != 2 || c.ResolvedByRuleChange != 1 {
		t.Fatalf("counts %+v", c)
	}
	log, _ := s.AuditLog(context.Background())
	found := false
	for _, e := range log {
		found = found || strings.Contains(e.Detail, `"resolved_by_rule_change":["y"]`)
	}
	if !found {
		t.Fatal("the rule change is not in the audit chain")
	}
}

// `update findings set status='resolved'` must not stay resolved unnoticed.
func TestHandResolvedFindingFailsVerify(t *testing.T) {
	s := open(t)
	run(t, s, Batch{Source: "a", Findings: []finding.Finding{f("x")}})
	exec1(t, s, `UPDATE findings SET status = 'resolved' WHERE id = 'x'`)
	_, p, err := s.VerifyAudit(context.Background(), "")
	if err != nil || len(p) != 1 || !strings.Contains(p[0], "is resolved but the audit chain says open") {
		t.Fatalf("problems %v %v", p, err)
	}
}
