package remediate

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/store"
)

// seed stores findings as one source's complete scan, as a run would.
func seed(t *testing.T, st *store.Store, source string, fs ...finding.Finding) {
	t.Helper()
	ctx := context.Background()
	run, err := st.BeginRun(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	for i := range fs {
		if fs[i].Status == "" {
			fs[i].Status = finding.StatusOpen
		}
		if fs[i].Severity == "" {
			fs[i].Severity = finding.High
		}
		fs[i].Scanner = "test"
	}
	if _, err := st.Apply(ctx, run, store.Batch{Source: source, Mode: store.Full, Findings: fs}); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishRun(ctx, run, store.RunOK, nil); err != nil {
		t.Fatal(err)
	}
}

// action reads one action back from the store.
func action(t *testing.T, st *store.Store, id string) store.Action {
	t.Helper()
	acts, err := st.Actions(context.Background(), store.ActionFilter{IDs: []string{id}})
	if err != nil || len(acts) != 1 {
		t.Fatalf("action %s: %v (%d rows)", id, err, len(acts))
	}
	return acts[0]
}

// auditActions returns the audit log's remediate.* actions for subject, in
// order, and checks the chain is intact.
func auditActions(t *testing.T, st *store.Store, subject string) []string {
	t.Helper()
	ctx := context.Background()
	entries, err := st.AuditLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, problems, err := st.VerifyEntries(ctx, entries); err != nil || len(problems) > 0 {
		t.Fatalf("audit chain: %v %v", err, problems)
	}
	var out []string
	for _, e := range entries {
		if e.Subject == subject && strings.HasPrefix(e.Action, "remediate.") {
			out = append(out, e.Action)
		}
	}
	return out
}

// assertNoSecret fails when any column of any table of the database holds
// one of the values.
func assertNoSecret(t *testing.T, st *store.Store, values ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", st.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tables, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tables.Next() {
		var n string
		_ = tables.Scan(&n)
		names = append(names, n)
	}
	tables.Close()
	for _, n := range names {
		rows, err := db.Query(`SELECT * FROM "` + n + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			_ = rows.Scan(ptrs...)
			for _, v := range vals {
				var s string
				switch x := v.(type) {
				case string:
					s = x
				case []byte:
					s = string(x)
				}
				for _, secret := range values {
					if secret != "" && strings.Contains(s, secret) {
						t.Errorf("table %s holds a secret value", n)
					}
				}
			}
		}
		rows.Close()
	}
}
