package main

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/testenv/pgtest"
)

// TestPostgresDatabase moves a night's SQLite database into a real
// PostgreSQL database with `vigil db migrate`, then keeps running on it:
// the next run, the findings, the audit verification and the reports work
// the same, and no planted value reaches any row of PostgreSQL.
func TestPostgresDatabase(t *testing.T) {
	fx := newFixture(t)
	if r := vigil(t, fx.dir, "run", "--config", "vigil.yaml", "--quiet"); r.code != exitFindings {
		t.Fatalf("first night on SQLite: exit %d: %s", r.code, r.stderr)
	}
	before := vigil(t, fx.dir, "findings", "list", "--config", "vigil.yaml", "--format", "json")

	dsn := pgtest.Database(t)
	m := vigil(t, fx.dir, "db", "migrate", "--config", "vigil.yaml", "--to", dsn)
	if m.code != exitOK || !strings.Contains(m.stdout, "audit chain verified") {
		t.Fatalf("db migrate: exit %d\n%s%s", m.code, m.stdout, m.stderr)
	}
	if again := vigil(t, fx.dir, "db", "migrate", "--config", "vigil.yaml", "--to", dsn); again.code == exitOK {
		t.Fatalf("a second migrate into the same database succeeded")
	}

	cfg, _ := os.ReadFile(filepath.Join(fx.dir, "vigil.yaml"))
	pg := strings.Replace(string(cfg), "db: state/vigil.db", "db: "+dsn+"\nhash_key_file: state/vigil.key", 1)
	if err := os.WriteFile(filepath.Join(fx.dir, "pg.yaml"), []byte(pg), 0o644); err != nil {
		t.Fatal(err)
	}
	after := vigil(t, fx.dir, "findings", "list", "--config", "pg.yaml", "--format", "json")
	if ids(t, after.stdout) != ids(t, before.stdout) || ids(t, before.stdout) == "" {
		t.Fatalf("findings differ after the copy:\n%s\n%s", before.stdout, after.stdout)
	}
	r := vigil(t, fx.dir, "run", "--config", "pg.yaml", "--out", "out", "--quiet")
	if r.code != exitFindings {
		t.Fatalf("second night on PostgreSQL: exit %d: %s", r.code, r.stderr)
	}
	if v := vigil(t, fx.dir, "audit", "verify", "--config", "pg.yaml"); v.code != exitOK {
		t.Fatalf("audit verify on PostgreSQL: exit %d: %s%s", v.code, v.stdout, v.stderr)
	}
	if rep := vigil(t, fx.dir, "report", "monthly", "--config", "pg.yaml", "--out", filepath.Join(fx.dir, "out", "m.xlsx")); rep.code != exitOK {
		t.Fatalf("monthly report from PostgreSQL: exit %d: %s", rep.code, rep.stderr)
	}

	// The canary, over every row of every table.
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var dump strings.Builder
	for _, tb := range tables {
		rs, err := db.Query(`SELECT row_to_json(t)::text FROM ` + tb + ` t`)
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
			var s string
			rs.Scan(&s)
			dump.WriteString(s + "\n")
		}
		rs.Close()
	}
	if !strings.Contains(dump.String(), "leak.git") {
		t.Fatalf("the dump holds no findings (%d bytes)", dump.Len())
	}
	fx.assertNoSecrets(t, r.stdout, r.stderr, m.stdout, m.stderr, dump.String())
}

// ids is the sorted ids of a findings JSON list.
func ids(t *testing.T, out string) string {
	t.Helper()
	var fs []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(out), &fs); err != nil {
		t.Fatalf("findings JSON: %v", err)
	}
	var s []string
	for _, f := range fs {
		s = append(s, f.ID)
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}
