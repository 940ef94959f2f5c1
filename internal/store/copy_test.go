package store

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/ledger"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/snapshot"
	"github.com/vigilsec/vigil/internal/testenv/pgtest"
)

// TestCopySQLiteToPostgres is `vigil db migrate`: a SQLite database with
// runs, a finding's whole lifecycle, the ledger, a remediation action and
// an inventory snapshot is copied into a real PostgreSQL database; both
// answer the same, the copy's audit chain verifies with the source's head,
// and a second copy into the same database is refused.
func TestCopySQLiteToPostgres(t *testing.T) {
	if onPostgres {
		return // the first run does it, once
	}
	ctx := context.Background()
	h, _ := secrethash.New([]byte(strings.Repeat("s", 32)))
	src, err := Open(ctx, filepath.Join(t.TempDir(), "v.db"), h)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	run(t, src, Batch{Source: "git:a", Findings: []finding.Finding{f("x"), f("y")}, State: `{"tips":{}}`})
	run(t, src, Batch{Source: "git:a", Findings: []finding.Finding{f("x")}})
	run(t, src, Batch{Source: "inventory:vault", Secrets: []snapshot.Secret{{Store: "vault", Path: "vault:kv/a", Declared: true, ListedAt: time.Now()}}})
	if err := src.SaveCredential(ctx, &ledger.Credential{ID: "c1", RunID: "r", Issuer: "aws:data", Identity: "etl", Target: "arn", Status: ledger.Issuing}); err != nil {
		t.Fatal(err)
	}
	if err := src.SaveAction(ctx, &Action{ID: "a1", PlanID: "p", Kind: "rotate.vault", Target: "vault:kv/a", Findings: []string{"x"}, Title: "t", Why: "w", Status: "planned"}); err != nil {
		t.Fatal(err)
	}

	dst, err := Open(ctx, pgtest.Database(t), h)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	rep, err := src.CopyTo(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows["findings"] != 2 || rep.Rows["runs"] != 3 || rep.Rows["audit_log"] == 0 || rep.Rows["credentials"] != 1 {
		t.Errorf("copied %v", rep.Rows)
	}
	want, _ := src.Findings(ctx, Filter{})
	got, _ := dst.Findings(ctx, Filter{})
	if !reflect.DeepEqual(want, got) {
		t.Errorf("findings differ after the copy:\n%+v\n%+v", want, got)
	}
	if acts, err := dst.Actions(ctx, ActionFilter{Findings: []string{"x"}}); err != nil || len(acts) != 1 {
		t.Errorf("actions by finding in the copy: %v %v", acts, err)
	}
	var snaps int
	_ = dst.EachSecret(ctx, time.Now().UTC().Format("2006-01"), func(s *snapshot.Secret) error {
		if s.Declared {
			snaps++
		}
		return nil
	})
	if snaps != 1 {
		t.Errorf("snapshot rows in the copy: %d", snaps)
	}
	if n, problems, err := dst.VerifyAudit(ctx, rep.Head); err != nil || len(problems) != 0 {
		t.Fatalf("the copy's chain: %d rows, %v, %v", n, problems, err)
	}
	log, _ := dst.AuditLog(ctx)
	if last := log[len(log)-1]; last.Action != "db.copied" {
		t.Errorf("the copy is not audited: last row %s", last.Action)
	}
	// The copy goes on as the database: a new run on it works.
	run(t, dst, Batch{Source: "git:a", Findings: []finding.Finding{f("x"), f("z")}})
	if _, err := src.CopyTo(ctx, dst); err == nil || !strings.Contains(err.Error(), "empty database") {
		t.Errorf("a second copy into a used database: %v", err)
	}
}
