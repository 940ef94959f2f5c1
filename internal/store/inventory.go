package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/vigilsec/vigil/internal/snapshot"
)

// saveSnapshot replaces source's snapshot for the month of now: one
// snapshot per source and month is what the monthly report reads, and it
// keeps the table from growing with every nightly run.
func (s *Store) saveSnapshot(ctx context.Context, tx *Tx, runID, source string, now time.Time, recs []snapshot.Secret) error {
	month := now.UTC().Format("2006-01")
	if _, err := tx.ExecContext(ctx, `DELETE FROM inventory_snapshots WHERE month = ? AND source = ?`, month, source); err != nil {
		return err
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO inventory_snapshots(month, source, path, run_id, store, location,
		owner, env, declared, rotation_days, last_rotated, last_accessed, listed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(month, source, path) DO UPDATE SET run_id = excluded.run_id, store = excluded.store,
			location = excluded.location, owner = excluded.owner, env = excluded.env, declared = excluded.declared,
			rotation_days = excluded.rotation_days, last_rotated = excluded.last_rotated,
			last_accessed = excluded.last_accessed, listed_at = excluded.listed_at`)
	if err != nil {
		return err
	}
	defer ins.Close()
	for _, r := range recs {
		declared := 0 // an INTEGER column: PostgreSQL takes no bool for it
		if r.Declared {
			declared = 1
		}
		if _, err := ins.ExecContext(ctx, month, source, r.Path, runID, r.Store, r.Where, r.Owner, r.Env, declared,
			r.RotationDays, nullTS(r.LastRotated), nullTS(r.LastAccessed), ts(now)); err != nil {
			return err
		}
	}
	return nil
}

// EachSecret calls fn for each secret of the snapshot of month (YYYY-MM):
// for each source, its last complete listing in that month, ordered by path.
// Rows stream from the database.
func (s *Store) EachSecret(ctx context.Context, month string, fn func(*snapshot.Secret) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT source, store, path, location, owner, env, declared, rotation_days,
		last_rotated, last_accessed, listed_at FROM inventory_snapshots WHERE month = ? ORDER BY path, source`, month)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r snapshot.Secret
		var rot, acc, listed sql.NullString
		var declared int
		if err := rows.Scan(&r.Source, &r.Store, &r.Path, &r.Where, &r.Owner, &r.Env, &declared, &r.RotationDays, &rot, &acc, &listed); err != nil {
			return err
		}
		r.Declared = declared != 0
		r.LastRotated, r.LastAccessed, r.ListedAt = parseTS(rot), parseTS(acc), parseTS(listed)
		if err := fn(&r); err != nil {
			return err
		}
	}
	return rows.Err()
}
