package store

import (
	"context"
	"fmt"
	"strings"
)

// copied are the tables `vigil db migrate` copies, parents first. The
// locks table is not copied (a lease belongs to a process on the old
// database), nor schema_migrations (both databases are at this vigil's
// version once opened).
var copied = []string{"runs", "run_errors", "findings", "finding_events", "scan_state", "audit_log", "meta",
	"credentials", "inventory_snapshots", "remediation_actions"}

// CopyReport is what a copy moved.
type CopyReport struct {
	Rows map[string]int // table -> rows copied (and counted again in the destination)
	Head string         // the audit chain's head, the same in both
}

// CopyTo copies this database into dst, which must be empty (a new
// PostgreSQL database, say), in one transaction of dst, then checks it:
// every table holds the same number of rows in both, and dst's audit chain
// verifies, with the same head, under the same key. Only then is the copy
// itself audited in dst. The key must be the one the source was made with.
func (s *Store) CopyTo(ctx context.Context, dst *Store) (CopyReport, error) {
	rep := CopyReport{Rows: map[string]int{}}
	var have int
	if err := dst.db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM runs) + (SELECT COUNT(*) FROM audit_log)`).Scan(&have); err != nil {
		return rep, err
	}
	if have > 0 {
		return rep, fmt.Errorf("the destination %s already holds runs or audit rows: copy into an empty database", dst.path)
	}
	if n, problems, err := s.VerifyAudit(ctx, ""); err != nil {
		return rep, err
	} else if len(problems) > 0 {
		return rep, fmt.Errorf("the source's audit chain fails verification (%d problem(s) in %d rows): not copied", len(problems), n)
	}
	head, err := s.AuditHead(ctx)
	if err != nil {
		return rep, err
	}
	err = dst.tx(ctx, func(tx *Tx) error {
		for _, table := range copied {
			n, err := s.copyTable(ctx, tx, table)
			if err != nil {
				return fmt.Errorf("copy %s: %w", table, err)
			}
			rep.Rows[table] = n
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	for _, table := range copied {
		var n int
		if err := dst.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
			return rep, err
		}
		if n != rep.Rows[table] {
			return rep, fmt.Errorf("%s: %d rows copied but %d in the destination", table, rep.Rows[table], n)
		}
	}
	n, problems, err := dst.VerifyAudit(ctx, head)
	if err != nil {
		return rep, err
	}
	if len(problems) > 0 {
		return rep, fmt.Errorf("the copy's audit chain fails verification (%d problem(s) in %d rows): %s", len(problems), n, problems[0])
	}
	rep.Head = head
	detail := map[string]any{"from": s.path}
	for t, c := range rep.Rows {
		detail[t] = c
	}
	err = dst.tx(ctx, func(tx *Tx) error { return dst.appendAudit(ctx, tx, "db.copied", "database", detail) })
	return rep, err
}

// copyTable copies one table's rows, column by column as stored.
func (s *Store) copyTable(ctx context.Context, tx *Tx, table string) (int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT * FROM `+table)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO `+table+`(`+strings.Join(cols, ", ")+`) VALUES (?`+strings.Repeat(", ?", len(cols)-1)+`)`)
	if err != nil {
		return 0, err
	}
	defer ins.Close()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b) // every column is TEXT or INTEGER
			}
		}
		if _, err := ins.ExecContext(ctx, vals...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}
