package store

import (
	"context"
	"database/sql"
	"errors"
)

// Claim gives source to shard of the sharded run (runID, named key) if no
// shard has it yet, or if the shard that has it neither finished it nor
// holds its lease any more (its process died: its lease expired, or it was
// a dead process on this host). It reports whether this shard now has it.
// Sources are taken one at a time, so one huge source keeps one shard busy
// while the others take the rest: this is the queue, for runs whose
// sources differ much in size.
func (s *Store) Claim(ctx context.Context, runID, key, source string, shard int) (bool, error) {
	var got bool
	err := s.tx(ctx, func(tx *Tx) error {
		now := s.now()
		var holder int
		var done sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT shard, done_at FROM run_claims WHERE run_id = ? AND source = ?`, runID, source).Scan(&holder, &done)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `INSERT INTO run_claims(run_id, source, shard, claimed_at) VALUES (?, ?, ?, ?)`, runID, source, shard, ts(now))
			got = err == nil
			return err
		case err != nil:
			return err
		case done.Valid:
			return nil // stored by a shard of this run
		case holder == shard:
			got = true // this shard's own claim, from an attempt that died
			return nil
		}
		cur, err := lockInfo(ctx, tx, ShardLockName(key, holder))
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err == nil && cur.Live(now) && (cur.Host != holderHost() || alive(cur.PID)) {
			return nil // its shard is at work on it
		}
		if _, err := tx.ExecContext(ctx, `UPDATE run_claims SET shard = ?, claimed_at = ? WHERE run_id = ? AND source = ?`,
			shard, ts(now), runID, source); err != nil {
			return err
		}
		got = true
		return s.appendAudit(ctx, tx, "run.claim_taken_over", "run:"+runID, map[string]any{"source": source, "from_shard": holder, "shard": shard})
	})
	return got, err
}

// ClaimDone marks a claimed source stored.
func (s *Store) ClaimDone(ctx context.Context, runID, source string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE run_claims SET done_at = ? WHERE run_id = ? AND source = ?`, ts(s.now()), runID, source)
	return err
}
