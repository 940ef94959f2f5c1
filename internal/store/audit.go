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

	"github.com/vigilsec/vigil/internal/finding"
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
func (s *Store) appendAudit(ctx context.Context, tx *Tx, action, subject string, detail map[string]any) error {
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

// chainedFindingsVersion is the schema version from which every finding
// transition is in the chain (the migration writes the baseline).
const chainedFindingsVersion = 5

// chainBaseline chains the status every finding has at the moment the
// database starts chaining transitions.
func (s *Store) chainBaseline(ctx context.Context, tx *Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, status FROM findings ORDER BY id`)
	if err != nil {
		return err
	}
	statuses := map[string]string{}
	for rows.Next() {
		var id, st string
		if err := rows.Scan(&id, &st); err != nil {
			rows.Close()
			return err
		}
		statuses[id] = st
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(statuses) == 0 {
		return nil
	}
	return s.appendAudit(ctx, tx, "findings.baseline", "findings", map[string]any{"status": statuses})
}

// AuditHead returns the chain's head as "seq:hash" ("" for an empty chain):
// the anchor a run prints, so that an external system can later hand it to
// `vigil audit verify --expect-head` and catch a chain cut and re-headed
// from a backup.
func (s *Store) AuditHead(ctx context.Context) (string, error) {
	var seq int64
	var hash string
	err := s.db.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d:%s", seq, hash), nil
}

// VerifyAudit walks the chain and returns how many rows it checked and every
// break it found (empty when the chain is intact). expectHead, when set, is
// a head ("seq:hash") recorded outside the database earlier: the chain must
// still contain that row, unchanged.
func (s *Store) VerifyAudit(ctx context.Context, expectHead string) (int, []string, error) {
	entries, err := s.AuditLog(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("read audit log: %w", err)
	}
	n, problems, err := s.VerifyEntries(ctx, entries)
	if err != nil {
		return n, problems, err
	}
	if expectHead != "" {
		problems = append(problems, checkAnchor(entries, expectHead)...)
	}
	fp, err := s.verifyFindings(ctx, entries)
	if err != nil {
		return n, problems, err
	}
	return n, append(problems, fp...), nil
}

func checkAnchor(entries []AuditEntry, head string) []string {
	seqStr, hash, ok := strings.Cut(strings.TrimSpace(head), ":")
	seq, err := strconv.ParseInt(seqStr, 10, 64)
	if !ok || err != nil || hash == "" {
		return []string{fmt.Sprintf("--expect-head %q is not a head (want SEQ:HASH, as a run prints it)", head)}
	}
	for _, e := range entries {
		if e.Seq == seq {
			if e.Hash != hash {
				return []string{fmt.Sprintf("row %d is not the row the expected head anchors: the chain was rewritten from there on", seq)}
			}
			return nil
		}
	}
	return []string{fmt.Sprintf("the expected head is row %d, but the chain has no such row: rows were cut from the end", seq)}
}

// verifyFindings replays every chained transition and holds the findings
// table to it: a status edited in place, or a finding inserted outside a
// stored scan, does not match what the chain says happened.
func (s *Store) verifyFindings(ctx context.Context, entries []AuditEntry) ([]string, error) {
	want := map[string]string{}
	for _, e := range entries {
		switch e.Action {
		case "findings.baseline":
			var d struct {
				Status map[string]string `json:"status"`
			}
			if json.Unmarshal([]byte(e.Detail), &d) == nil {
				for id, st := range d.Status {
					want[id] = st
				}
			}
		case "scan.stored":
			var d struct {
				Transitions map[string][]string `json:"transitions"`
			}
			if json.Unmarshal([]byte(e.Detail), &d) != nil {
				continue
			}
			for t, ids := range d.Transitions {
				st := string(finding.StatusOpen)
				switch finding.Transition(t) {
				case finding.Resolved:
					st = string(finding.StatusResolved)
				case finding.New, finding.Regressed:
				default:
					continue
				}
				for _, id := range ids {
					if want[id] != string(finding.StatusSuppressed) {
						want[id] = st
					}
				}
			}
		case "finding.suppress":
			want[strings.TrimPrefix(e.Subject, "finding:")] = string(finding.StatusSuppressed)
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, status FROM findings ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var problems []string
	const maxListed = 20
	bad := 0
	for rows.Next() {
		var id, st string
		if err := rows.Scan(&id, &st); err != nil {
			return nil, err
		}
		w, ok := want[id]
		delete(want, id)
		if ok && w == st {
			continue
		}
		bad++
		if bad > maxListed {
			continue
		}
		if !ok {
			problems = append(problems, fmt.Sprintf("finding %s (%s) is not in the audit chain: it was inserted outside a stored scan", finding.ShortID(id), st))
		} else {
			problems = append(problems, fmt.Sprintf("finding %s is %s but the audit chain says %s: its status was edited", finding.ShortID(id), st, w))
		}
	}
	if bad > maxListed {
		problems = append(problems, fmt.Sprintf("... and %d more findings that disagree with the chain", bad-maxListed))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(want) > 0 {
		problems = append(problems, fmt.Sprintf("%d finding(s) recorded in the audit chain are missing from the findings table: they were deleted", len(want)))
	}
	return problems, nil
}

// VerifyEntries verifies entries, the whole log as AuditLog returned it,
// for a caller that also needs the rows (the monthly report).
func (s *Store) VerifyEntries(ctx context.Context, entries []AuditEntry) (int, []string, error) {
	var problems []string
	// Rows before a deliberate key replacement (--new-key) were keyed with
	// a key that is gone: they can't be verified, which is one problem, not
	// one per row. The replacement row itself is keyed with the new key.
	var newKeyAt int64
	for _, e := range entries {
		if e.Action == "key.replaced" {
			newKeyAt = e.Seq
		}
	}
	if newKeyAt > 1 {
		problems = append(problems, fmt.Sprintf("rows 1 to %d were written under a previous hash key, replaced at row %d (--new-key): they cannot be verified", newKeyAt-1, newKeyAt))
	}
	prev := genesis
	var want int64 = 1
	for _, e := range entries {
		if e.Seq != want {
			problems = append(problems, fmt.Sprintf("rows %d to %d are missing (deleted)", want, e.Seq-1))
		}
		if e.PrevHash != prev {
			problems = append(problems, fmt.Sprintf("row %d does not link to the row before it", e.Seq))
		}
		if e.Seq < newKeyAt {
			prev, want = e.Hash, e.Seq+1
			continue
		}
		if h := rowMAC(s, e.PrevHash, e.Seq, e.At, e.Actor, e.Action, e.Subject, e.Detail); h != e.Hash {
			problems = append(problems, fmt.Sprintf("row %d (%s %s) was modified: its hash does not match its contents", e.Seq, e.Action, e.Subject))
		}
		prev, want = e.Hash, e.Seq+1
	}
	if len(entries) == 0 {
		// Every run writes audit rows; a database that remembers runs but
		// has no chain had its chain deleted.
		var runs int
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM runs`).Scan(&runs); err != nil {
			return 0, nil, err
		}
		if runs > 0 {
			problems = append(problems, fmt.Sprintf("the audit log is empty but the database has %d run(s): the chain was deleted", runs))
		}
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

// RecordKeyReplaced chains the deliberate replacement of a lost hash key
// (`--new-key`), so that the break verify will report in the older rows has
// a stated cause and a time.
func (s *Store) RecordKeyReplaced(ctx context.Context, keyFile string) error {
	return s.tx(ctx, func(tx *Tx) error {
		return s.appendAudit(ctx, tx, "key.replaced", "key", map[string]any{"key_file": keyFile})
	})
}
