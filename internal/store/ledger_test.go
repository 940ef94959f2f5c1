package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/ledger"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/snapshot"
)

func TestLedgerLifecycleIsAudited(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	c := &ledger.Credential{ID: "l1", RunID: "r1", Issuer: "vault:main", Identity: "etl", Target: "http://bao", Status: ledger.Issuing,
		Scope: map[string]any{"policies": []string{"etl"}}, ExpiresAt: time.Now().Add(time.Hour)}
	for _, step := range []func(){
		func() {},
		func() { c.Status, c.CredentialID, c.IssuedAt = ledger.Issued, "acc-1", time.Now() },
		func() {
			c.Probes = []ledger.ProbeRecord{{Probe: "read x", Expect: "allow", Outcome: "allowed", At: time.Now()}}
		}, // no status change
		func() {
			c.Status, c.RevokedAt, c.Revocation = ledger.Revoked, time.Now(), map[string]any{"verified": true}
		},
	} {
		step()
		if err := s.SaveCredential(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	open, err := s.Credentials(ctx, ledger.Filter{Open: true})
	if err != nil || len(open) != 1 || open[0].CredentialID != "acc-1" || len(open[0].Probes) != 1 || open[0].Revocation["verified"] != true {
		t.Fatalf("%v %+v", err, open)
	}
	c.Status, c.CleanedAt = ledger.Cleaned, time.Now()
	if err := s.SaveCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	if open, _ := s.Credentials(ctx, ledger.Filter{Open: true}); len(open) != 0 {
		t.Fatalf("cleaned row still open: %+v", open)
	}
	// One audit row per status: issuing, issued, revoked, cleaned.
	log, _ := s.AuditLog(ctx)
	var actions []string
	for _, e := range log {
		actions = append(actions, e.Action)
	}
	if strings.Join(actions, ",") != "credential.issuing,credential.issued,credential.revoked,credential.cleaned" {
		t.Fatalf("audit: %v", actions)
	}
	if n, bad, err := s.VerifyAudit(ctx, ""); err != nil || len(bad) != 0 || n != 4 {
		t.Fatalf("verify: %d %v %v", n, bad, err)
	}
}

// A database at schema 1 (before the ledger) gains the ledger and keeps
// its findings.
func TestMigrationAddsLedgerToVersionOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`,
		migrations[1],
		`INSERT INTO schema_migrations VALUES (1, 'then')`,
		`INSERT INTO runs(id, command, started_at, status) VALUES ('old', 'run', '2026-10-01T00:00:00Z', 'ok')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	h, _ := secrethash.New([]byte(strings.Repeat("s", 32)))
	s, err := Open(context.Background(), path, h)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, _ := s.Runs(context.Background(), time.Time{}, time.Time{})
	if len(runs) != 1 || runs[0].ID != "old" {
		t.Fatalf("runs %+v", runs)
	}
	if err := s.SaveCredential(context.Background(), &ledger.Credential{ID: "x", RunID: "r", Issuer: "aws:a", Identity: "i", Status: ledger.Issuing}); err != nil {
		t.Fatal(err)
	}
}

// A complete listing replaces its source's snapshot for the month; a
// partial one leaves it.
func TestInventorySnapshotPerSourceAndMonth(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	rec := func(p string) snapshot.Secret {
		return snapshot.Secret{Store: "vault", Path: p, Owner: "data", Env: "prod", Declared: true, RotationDays: 90, LastRotated: time.Now().Add(-24 * time.Hour)}
	}
	run(t, s, Batch{Source: "inventory:vault", Mode: Full, Secrets: []snapshot.Secret{rec("vault:a"), rec("vault:b")}})
	run(t, s, Batch{Source: "inventory:vault", Mode: Full, Secrets: []snapshot.Secret{rec("vault:b")}})
	run(t, s, Batch{Source: "inventory:vault", Mode: Partial, Secrets: []snapshot.Secret{rec("vault:c")}})
	var got []snapshot.Secret
	err := s.EachSecret(ctx, time.Now().UTC().Format("2006-01"), func(r *snapshot.Secret) error {
		got = append(got, *r)
		return nil
	})
	if err != nil || len(got) != 1 || got[0].Path != "vault:b" || got[0].Owner != "data" || got[0].LastRotated.IsZero() || !got[0].Declared {
		t.Fatalf("%v %+v", err, got)
	}
}
