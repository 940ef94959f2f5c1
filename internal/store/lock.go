package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// ErrLocked is returned when another vigil process holds a live lease.
var ErrLocked = errors.New("another vigil run holds the lock")

// ErrLeaseLost is returned by Renew when the lease was taken over (it had
// expired, or `vigil unlock --force` cleared it): the holder must stop.
var ErrLeaseLost = errors.New("the lease was taken over by another process")

// DefaultLeaseTTL is how long a lease lives without being renewed. A holder
// renews it every third of that, so a killed run blocks the next one for at
// most this long, whatever host either runs on.
const DefaultLeaseTTL = 2 * time.Minute

// LockInfo describes who holds a lock.
type LockInfo struct {
	Name, Holder, Host string
	PID                int
	Acquired, Expires  time.Time
}

// Live reports whether the lease is still in force at now.
func (l LockInfo) Live(now time.Time) bool { return now.Before(l.Expires) }

// Lock takes the named lease for holder (a run id) for ttl. A lease that
// expired (its holder stopped renewing it: killed, or its pod is gone) is
// taken over from any host, and so is one left by a dead process on this
// host; the takeover and the aborted run are written to the audit chain.
func (s *Store) Lock(ctx context.Context, name, holder string, ttl time.Duration) error {
	ttl = leaseTTL(ttl)
	host := holderHost()
	return s.tx(ctx, func(tx *Tx) error {
		now := s.now()
		cur, err := lockInfo(ctx, tx, name)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case !cur.Live(now) || (cur.Host == host && !alive(cur.PID)):
			// The holder can never finish on its own: its run is aborted.
			reason := "lease expired"
			if cur.Live(now) {
				reason = "holder process is gone"
			}
			if err := s.abortHolder(ctx, tx, cur, "lock.takeover", map[string]any{
				"reason": reason, "new_holder": holder, "new_host": host,
			}); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w %q (run %s, pid %d on %s, lease expires %s; `vigil unlock` clears it once expired)",
				ErrLocked, name, cur.Holder, cur.PID, cur.Host, cur.Expires.Format(time.RFC3339))
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO locks(name, holder, host, pid, acquired_at, expires_at, renewed_at) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, host = excluded.host, pid = excluded.pid,
			acquired_at = excluded.acquired_at, expires_at = excluded.expires_at, renewed_at = excluded.renewed_at`,
			name, holder, host, os.Getpid(), ts(now), ts(now.Add(ttl)), ts(now))
		return err
	})
}

// Renew extends holder's lease by ttl from now. ErrLeaseLost means another
// process owns the lock now.
func (s *Store) Renew(ctx context.Context, name, holder string, ttl time.Duration) error {
	ttl = leaseTTL(ttl)
	now := s.now()
	res, err := s.db.ExecContext(ctx, `UPDATE locks SET expires_at = ?, renewed_at = ? WHERE name = ? AND holder = ?`,
		ts(now.Add(ttl)), ts(now), name, holder)
	if err != nil {
		return fmt.Errorf("renew lease %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: %q", ErrLeaseLost, name)
	}
	return nil
}

// Unlock releases a lock held by holder.
func (s *Store) Unlock(ctx context.Context, name, holder string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM locks WHERE name = ? AND holder = ?`, name, holder)
	return err
}

// ForceUnlock clears the named lock for `vigil unlock`. A live lease is
// refused unless force is set (its holder may still be writing); either way
// the holder's run is marked aborted and the clearing is audited.
func (s *Store) ForceUnlock(ctx context.Context, name string, force bool) (LockInfo, error) {
	var cur LockInfo
	err := s.tx(ctx, func(tx *Tx) error {
		var err error
		cur, err = lockInfo(ctx, tx, name)
		if err != nil {
			return err
		}
		if cur.Live(s.now()) && !force {
			return fmt.Errorf("%w %q (run %s, pid %d on %s) and its lease is live until %s: wait for it, or use --force if that process is certainly dead",
				ErrLocked, name, cur.Holder, cur.PID, cur.Host, cur.Expires.Format(time.RFC3339))
		}
		return s.abortHolder(ctx, tx, cur, "lock.unlock", map[string]any{"forced": force, "live": cur.Live(s.now())})
	})
	if errors.Is(err, sql.ErrNoRows) {
		return cur, fmt.Errorf("no lock %q is held", name)
	}
	return cur, err
}

// abortHolder removes cur's lock, marks its run aborted (for a shard's
// lease, only that shard, as failed: the run goes on, and the shard is
// started again) and audits both.
func (s *Store) abortHolder(ctx context.Context, tx *Tx, cur LockInfo, action string, detail map[string]any) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM locks WHERE name = ?`, cur.Name); err != nil {
		return err
	}
	if shard, ok := shardOfLock(cur.Name); ok {
		if _, err := tx.ExecContext(ctx, `UPDATE run_shards SET status = ?, finished_at = ? WHERE run_id = ? AND shard = ? AND status = ?`,
			RunFailed, ts(s.now()), cur.Holder, shard, RunRunning); err != nil {
			return err
		}
		detail["shard"] = shard
	} else if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, finished_at = ? WHERE id = ? AND status = ?`,
		RunAborted, ts(s.now()), cur.Holder, RunRunning); err != nil {
		return err
	}
	detail["stale_holder"], detail["host"], detail["pid"] = cur.Holder, cur.Host, cur.PID
	detail["expires_at"] = cur.Expires.Format(time.RFC3339)
	return s.appendAudit(ctx, tx, action, "lock:"+cur.Name, detail)
}

func lockInfo(ctx context.Context, tx *Tx, name string) (LockInfo, error) {
	l := LockInfo{Name: name}
	var acquired string
	var expires sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT holder, host, pid, acquired_at, expires_at FROM locks WHERE name = ?`, name).
		Scan(&l.Holder, &l.Host, &l.PID, &acquired, &expires)
	if err != nil {
		return l, err
	}
	l.Acquired = parseTS(sql.NullString{String: acquired, Valid: true})
	l.Expires = parseTS(expires)
	if !expires.Valid {
		// A lock from a vigil without leases: it lived as long as its process.
		l.Expires = l.Acquired.Add(DefaultLeaseTTL)
	}
	return l, nil
}

// holderHost names where a holder runs: the hostname and the PID namespace.
// A pid is only checked for life when both match ours: two containers (say,
// host-network pods) can share a hostname, and a pid means nothing in
// another PID namespace.
func holderHost() string {
	host, _ := os.Hostname()
	if ns, err := os.Readlink("/proc/self/ns/pid"); err == nil {
		return host + " (" + ns + ")"
	}
	return host
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Hold takes the named lease and renews it every ttl/3 until release is
// called. The returned context is cancelled with ErrLeaseLost if the lease
// is taken over, so the holder stops instead of writing over the work of
// whoever took it.
func (s *Store) Hold(ctx context.Context, name, holder string, ttl time.Duration) (context.Context, func(), error) {
	ttl = leaseTTL(ttl)
	if err := s.Lock(ctx, name, holder, ttl); err != nil {
		return ctx, func() {}, err
	}
	hctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
				// Any error but a lost lease (a busy database) is retried on
				// the next tick: the lease has two more before it expires.
				if err := s.Renew(hctx, name, holder, ttl); errors.Is(err, ErrLeaseLost) {
					cancel(err)
					return
				}
			}
		}
	}()
	release := func() {
		cancel(nil)
		<-done
		_ = s.Unlock(context.WithoutCancel(ctx), name, holder)
	}
	return hctx, release, nil
}

func leaseTTL(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return DefaultLeaseTTL
	}
	return ttl
}
