package store

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// The store's SQL is written once, with ? placeholders, in the subset
// SQLite and PostgreSQL share; db and tx rewrite the placeholders for
// PostgreSQL ($1, $2 ...), and the few functions the two spell differently
// go through the dialect methods below. Every statement of the store runs
// on both: the store tests run against SQLite and a real PostgreSQL.

// db is the store's connection pool.
type db struct {
	*sql.DB
	pg bool
}

// tx is a transaction of the store.
type tx struct {
	*sql.Tx
	pg bool
}

// Tx is what store methods write through inside one transaction.
type Tx = tx

func (d db) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return d.DB.ExecContext(ctx, rebind(d.pg, q), args...)
}

func (d db) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return d.DB.QueryContext(ctx, rebind(d.pg, q), args...)
}

func (d db) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return d.DB.QueryRowContext(ctx, rebind(d.pg, q), args...)
}

// Exec and QueryRow are the tests' shorthand.
func (d db) Exec(q string, args ...any) (sql.Result, error) {
	return d.DB.Exec(rebind(d.pg, q), args...)
}

func (d db) QueryRow(q string, args ...any) *sql.Row { return d.DB.QueryRow(rebind(d.pg, q), args...) }

func (t *tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.Tx.ExecContext(ctx, rebind(t.pg, q), args...)
}

func (t *tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.Tx.QueryContext(ctx, rebind(t.pg, q), args...)
}

func (t *tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return t.Tx.QueryRowContext(ctx, rebind(t.pg, q), args...)
}

func (t *tx) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return t.Tx.PrepareContext(ctx, rebind(t.pg, q))
}

// rebind numbers the ? placeholders outside string literals for PostgreSQL.
func rebind(pg bool, q string) string {
	if !pg || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n, quoted := 0, false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			quoted = !quoted
		case c == '?' && !quoted:
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// jsonText is the text at key of a JSON object column.
func (s *Store) jsonText(col, key string) string {
	if s.pg {
		return "(" + col + "::jsonb->>'" + key + "')"
	}
	return "json_extract(" + col + ", '$." + key + "')"
}

// jsonElements is a table of the text elements of a JSON array column,
// with one column named value.
func (s *Store) jsonElements(col string) string {
	if s.pg {
		return "jsonb_array_elements_text(" + col + "::jsonb) AS e(value)"
	}
	return "json_each(" + col + ")"
}

// daysBetween is the number of days (fractional) from a to b, two
// RFC 3339 text columns.
func (s *Store) daysBetween(a, b string) string {
	if s.pg {
		return "(EXTRACT(EPOCH FROM (" + b + "::timestamptz - " + a + "::timestamptz)) / 86400.0)"
	}
	return "(julianday(" + b + ") - julianday(" + a + "))"
}
