package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
)

// The audit log is a hash chain: each row's hash is an HMAC (under the
// installation's hash key) of the previous row's hash and the row's own
// fields. Editing a row breaks its hash; deleting one breaks the next row's
// link; deleting the newest rows is caught by the signed head kept in meta.
// Without the key, a consistent forgery can't be computed.

const genesis = "genesis"

// Actor names who is acting, for the audit log: VIGIL_ACTOR if set (CI sets
// it to the workflow's identity), else the CI's own actor variable, else the
// OS user and host.
func Actor() string {
	for _, k := range []string{"VIGIL_ACTOR", "GITHUB_ACTOR"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

func rowMAC(s *Store, prev string, seq int64, at, actor, action, subject, detail string) string {
	return s.mac.MAC([]byte(strings.Join([]string{prev, strconv.FormatInt(seq, 10), at, actor, action, subject, detail}, "\x00")))
}

func headMAC(s *Store, seq int64, hash string) string {
	return s.mac.MAC([]byte("audit-head\x00" + strconv.FormatInt(seq, 10) + "\x00" + hash))
}

// appendAudit adds a row to the chain inside tx, so the audited change and
// its audit row commit or fail together.
func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, action, subject string, detail map[string]any) error {
	b, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	var seq int64
	prev := genesis
	err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	seq++
	at, actor := ts(s.now()), Actor()
	h := rowMAC(s, prev, seq, at, actor, action, subject, string(b))
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log(seq, at, actor, action, subject, detail, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, seq, at, actor, action, subject, string(b), prev, h); err != nil {
		return err
	}
	head := fmt.Sprintf("%d:%s:%s", seq, h, headMAC(s, seq, h))
	_, err = tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES ('audit_head', ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`, head)
	return err
}

// AuditEntry is one row of the audit log.
type AuditEntry struct {
	Seq                                int64
	At, Actor, Action, Subject, Detail string
	PrevHash, Hash                     string
}

// AuditLog returns the audit rows in order.
func (s *Store) AuditLog(ctx context.Context) ([]AuditEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit_log ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		if err := rows.Scan(&e.Seq, &e.At, &e.Actor, &e.Action, &e.Subject, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// VerifyAudit walks the chain and returns how many rows it checked and every
// break it found (empty when the chain is intact).
func (s *Store) VerifyAudit(ctx context.Context) (int, []string, error) {
	entries, err := s.AuditLog(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("read audit log: %w", err)
	}
	return s.VerifyEntries(ctx, entries)
}

// VerifyEntries verifies entries, the whole log as AuditLog returned it,
// for a caller that also needs the rows (the monthly report).
func (s *Store) VerifyEntries(ctx context.Context, entries []AuditEntry) (int, []string, error) {
	var problems []string
	prev := genesis
	var want int64 = 1
	for _, e := range entries {
		if e.Seq != want {
			problems = append(problems, fmt.Sprintf("rows %d to %d are missing (deleted)", want, e.Seq-1))
		}
		if e.PrevHash != prev {
			problems = append(problems, fmt.Sprintf("row %d does not link to the row before it", e.Seq))
		}
		if h := rowMAC(s, e.PrevHash, e.Seq, e.At, e.Actor, e.Action, e.Subject, e.Detail); h != e.Hash {
			problems = append(problems, fmt.Sprintf("row %d (%s %s) was modified: its hash does not match its contents", e.Seq, e.Action, e.Subject))
		}
		prev, want = e.Hash, e.Seq+1
	}
	var head string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'audit_head'`).Scan(&head)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if len(entries) > 0 {
			problems = append(problems, "the signed chain head is missing")
		}
	case err != nil:
		return 0, nil, err
	default:
		parts := strings.Split(head, ":")
		if len(parts) != 3 {
			problems = append(problems, "the signed chain head is malformed")
			break
		}
		seq, _ := strconv.ParseInt(parts[0], 10, 64)
		if headMAC(s, seq, parts[1]) != parts[2] {
			problems = append(problems, "the signed chain head was modified")
		} else if seq != want-1 || parts[1] != prev {
			problems = append(problems, fmt.Sprintf("the chain ends at row %d but its signed head is row %d: rows were deleted from the end", want-1, seq))
		}
	}
	return len(entries), problems, nil
}
