package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrShardDone is returned by JoinRun for a shard that already finished.
var ErrShardDone = errors.New("shard already finished")

// ShardLockName is the lease one shard of a sharded run holds: the shards
// of one run work at once, but one shard never runs twice at once.
func ShardLockName(key string, shard int) string { return fmt.Sprintf("run:%s:%d", key, shard) }

// shardOfLock is the shard a ShardLockName names.
func shardOfLock(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "run:")
	if !ok {
		return 0, false
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(rest[i+1:])
	return n, err == nil
}

// JoinRun starts shard (0-based) of the sharded run named key, creating the
// run if this shard is its first. A shard that was started before and
// never finished (its process was killed, and Kubernetes retried its index)
// starts again: what it stored stays, its sources' scan state says where
// to go on. A finished shard is not run twice (ErrShardDone).
func (s *Store) JoinRun(ctx context.Context, key, command string, shard, shards int) (string, error) {
	if shards < 1 || shard < 0 || shard >= shards {
		return "", fmt.Errorf("shard %d of %d: want 0 <= shard < shards", shard, shards)
	}
	now := s.now()
	var id string
	err := s.tx(ctx, func(tx *Tx) error {
		var have int
		var status string
		err := tx.QueryRowContext(ctx, `SELECT id, shards, status FROM runs WHERE run_key = ?`, key).Scan(&id, &have, &status)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			id = newRunID(now)
			if _, err := tx.ExecContext(ctx, `INSERT INTO runs(id, command, started_at, status, run_key, shards) VALUES (?, ?, ?, ?, ?, ?)`,
				id, command, ts(now), RunRunning, key, shards); err != nil {
				return err
			}
			if err := s.appendAudit(ctx, tx, "run.start", "run:"+id, map[string]any{"command": command, "run_key": key, "shards": shards}); err != nil {
				return err
			}
		case err != nil:
			return err
		case have != shards:
			return fmt.Errorf("run %s has %d shards, not %d", key, have, shards)
		case status != RunRunning:
			return fmt.Errorf("run %s is already finished (%s)", key, status)
		}
		var prev string
		err = tx.QueryRowContext(ctx, `SELECT status FROM run_shards WHERE run_id = ? AND shard = ?`, id, shard).Scan(&prev)
		host := holderHost()
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `INSERT INTO run_shards(run_id, shard, status, host, pid, started_at) VALUES (?, ?, ?, ?, ?, ?)`,
				id, shard, RunRunning, host, os.Getpid(), ts(now))
		case err != nil:
		case prev == RunRunning || prev == RunFailed:
			_, err = tx.ExecContext(ctx, `UPDATE run_shards SET status = ?, host = ?, pid = ?, attempts = attempts + 1, started_at = ?, finished_at = NULL
				WHERE run_id = ? AND shard = ?`, RunRunning, host, os.Getpid(), ts(now), id, shard)
		default:
			return fmt.Errorf("%w: shard %d of run %s (%s)", ErrShardDone, shard, key, prev)
		}
		if err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, "run.shard_start", "run:"+id, map[string]any{"shard": shard, "shards": shards, "host": host})
	})
	if err != nil {
		return "", fmt.Errorf("join run %s: %w", key, err)
	}
	return id, nil
}

// FinishShard records a shard's end. It returns true for exactly one
// caller: the shard whose end made every shard of the run done (ok or
// partial), which then finishes the run (Finalize). A failed shard is
// never done: it is started again, or the run is finished by hand
// (vigil run --finalize) with that shard's sources unscanned.
func (s *Store) FinishShard(ctx context.Context, runID string, shard int, status string, summary map[string]any) (last bool, err error) {
	b, err := json.Marshal(summary)
	if err != nil {
		return false, err
	}
	err = s.tx(ctx, func(tx *Tx) error {
		var runStatus string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM runs WHERE id = ?`, runID).Scan(&runStatus); err != nil {
			return err
		}
		if runStatus != RunRunning {
			return fmt.Errorf("run %s was finished (%s) while this shard worked; what it stored stays", runID, runStatus)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE run_shards SET status = ?, finished_at = ?, summary = ? WHERE run_id = ? AND shard = ?`,
			status, ts(s.now()), string(b), runID, shard); err != nil {
			return err
		}
		if err := s.appendAudit(ctx, tx, "run.shard_finish", "run:"+runID, map[string]any{"shard": shard, "status": status}); err != nil {
			return err
		}
		var shards, ended int
		if err := tx.QueryRowContext(ctx, `SELECT shards FROM runs WHERE id = ?`, runID).Scan(&shards); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM run_shards WHERE run_id = ? AND status IN (?, ?)`, runID, RunOK, RunPartial).Scan(&ended); err != nil {
			return err
		}
		last = ended == shards
		return nil
	})
	return last, err
}

// Shard is one shard's record.
type Shard struct {
	Shard    int
	Status   string
	Attempts int
	Summary  map[string]any
}

// RunByKey returns the id and shard count of the sharded run named key.
func (s *Store) RunByKey(ctx context.Context, key string) (id string, shards int, status string, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT id, shards, status FROM runs WHERE run_key = ?`, key).Scan(&id, &shards, &status)
	if errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("no sharded run %s", key)
	}
	return id, shards, status, err
}

// Shards returns the shards of a run that have started, by number.
func (s *Store) Shards(ctx context.Context, runID string) ([]Shard, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT shard, status, attempts, summary FROM run_shards WHERE run_id = ? ORDER BY shard`, runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Shard
	for rows.Next() {
		var sh Shard
		var summary string
		if err := rows.Scan(&sh.Shard, &sh.Status, &sh.Attempts, &summary); err != nil {
			return nil, err
		}
		_ = json.Unmarshal([]byte(summary), &sh.Summary)
		out = append(out, sh)
	}
	return out, rows.Err()
}
