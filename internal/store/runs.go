package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Run statuses.
const (
	RunRunning = "running"
	RunOK      = "ok"
	RunPartial = "partial"
	RunFailed  = "failed"
	RunAborted = "aborted"
)

// Run is one invocation of a vigil command that scanned something.
type Run struct {
	ID         string
	Command    string
	StartedAt  time.Time
	FinishedAt time.Time
	Status     string
	Summary    map[string]any
}

// newRunID makes an id that sorts by time and can't collide between hosts.
func newRunID(t time.Time) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// BeginRun records the start of a run. Runs left "running" by a process that
// no longer holds the run lock were killed; they are marked aborted here so
// that reports don't count them as in progress forever.
func (s *Store) BeginRun(ctx context.Context, command string) (string, error) {
	now := s.now()
	id := newRunID(now)
	err := s.tx(ctx, func(tx *Tx) error {
		// A sharded run (run_key) has no lease between its shards: it is
		// finished by its last shard, or by vigil run --finalize.
		rows, err := tx.QueryContext(ctx, `SELECT id FROM runs WHERE status = ? AND run_key IS NULL AND id NOT IN (SELECT holder FROM locks)`, RunRunning)
		if err != nil {
			return err
		}
		var stale []string
		for rows.Next() {
			var sid string
			if err := rows.Scan(&sid); err != nil {
				rows.Close()
				return err
			}
			stale = append(stale, sid)
		}
		rows.Close()
		for _, sid := range stale {
			if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, finished_at = ? WHERE id = ?`, RunAborted, ts(now), sid); err != nil {
				return err
			}
			if err := s.appendAudit(ctx, tx, "run.aborted", "run:"+sid, map[string]any{"reason": "found running without its lock; the process was killed"}); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO runs(id, command, started_at, status) VALUES (?, ?, ?, ?)`,
			id, command, ts(now), RunRunning); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, "run.start", "run:"+id, map[string]any{"command": command})
	})
	if err != nil {
		return "", fmt.Errorf("begin run: %w", err)
	}
	return id, nil
}

// RecordError notes that a source failed in a run. The error text is the
// scanner's; scanners never put secret values in errors.
func (s *Store) RecordError(ctx context.Context, runID, source string, e error) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO run_errors(run_id, source, error, at) VALUES (?, ?, ?, ?)`,
		runID, source, e.Error(), ts(s.now()))
	return err
}

// FinishRun closes a run with its status and summary counts.
func (s *Store) FinishRun(ctx context.Context, runID, status string, summary map[string]any) error {
	b, err := json.Marshal(summary)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, finished_at = ?, summary = ? WHERE id = ?`,
			status, ts(s.now()), string(b), runID); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, "run.finish", "run:"+runID, map[string]any{"status": status, "summary": summary})
	})
}

// Runs returns runs started in [from, to), oldest first. Zero times are open ends.
func (s *Store) Runs(ctx context.Context, from, to time.Time) ([]Run, error) {
	q := `SELECT id, command, started_at, finished_at, status, summary FROM runs WHERE 1=1`
	var args []any
	if !from.IsZero() {
		q += ` AND started_at >= ?`
		args = append(args, ts(from))
	}
	if !to.IsZero() {
		q += ` AND started_at < ?`
		args = append(args, ts(to))
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY started_at`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var started, finished sql.NullString
		var summary string
		if err := rows.Scan(&r.ID, &r.Command, &started, &finished, &r.Status, &summary); err != nil {
			return nil, err
		}
		r.StartedAt, r.FinishedAt = parseTS(started), parseTS(finished)
		_ = json.Unmarshal([]byte(summary), &r.Summary)
		out = append(out, r)
	}
	return out, rows.Err()
}

// RunErrors returns the per-source errors recorded for a run.
func (s *Store) RunErrors(ctx context.Context, runID string) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT source, error FROM run_errors WHERE run_id = ?`, runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var src, e string
		if err := rows.Scan(&src, &e); err != nil {
			return nil, err
		}
		out[src] = e
	}
	return out, rows.Err()
}
