package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"syscall"
)

// ErrLocked is returned when another live vigil process holds the lock.
var ErrLocked = errors.New("another vigil run holds the lock")

// Lock takes the named lock for holder (a run id). A lock left by a process
// that is gone (same host, pid not alive) is taken over, so a run killed with
// SIGKILL never blocks the next night's run.
func (s *Store) Lock(ctx context.Context, name, holder string) error {
	host, _ := os.Hostname()
	return s.tx(ctx, func(tx *sql.Tx) error {
		var h, lhost string
		var pid int
		err := tx.QueryRowContext(ctx, `SELECT holder, host, pid FROM locks WHERE name = ?`, name).Scan(&h, &lhost, &pid)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case lhost == host && !alive(pid):
			// The holder was killed: its run can never finish on its own.
			if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, finished_at = ? WHERE id = ? AND status = ?`,
				RunAborted, ts(s.now()), h, RunRunning); err != nil {
				return err
			}
			if err := s.appendAudit(ctx, tx, "lock.takeover", "lock:"+name, map[string]any{"stale_holder": h, "pid": pid, "run": "aborted"}); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w %q (run %s, pid %d on %s)", ErrLocked, name, h, pid, lhost)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO locks(name, holder, host, pid, acquired_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, host = excluded.host, pid = excluded.pid, acquired_at = excluded.acquired_at`,
			name, holder, host, os.Getpid(), ts(s.now()))
		return err
	})
}

// Unlock releases a lock held by holder.
func (s *Store) Unlock(ctx context.Context, name, holder string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM locks WHERE name = ? AND holder = ?`, name, holder)
	return err
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
