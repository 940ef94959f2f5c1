package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/vigilsec/vigil/internal/ledger"
)

// SaveCredential writes a ledger row (insert or update). A change of status
// is also appended to the audit chain, in the same transaction, so the
// ledger's history is tamper-evident.
func (s *Store) SaveCredential(ctx context.Context, c *ledger.Credential) error {
	now := s.now()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	scope, _ := json.Marshal(nonNilMap(c.Scope))
	rev, _ := json.Marshal(nonNilMap(c.Revocation))
	probes, _ := json.Marshal(nonNil(c.Probes))
	return s.tx(ctx, func(tx *Tx) error {
		var prev string
		err := tx.QueryRowContext(ctx, `SELECT status FROM credentials WHERE id = ?`, c.ID).Scan(&prev)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO credentials(id, run_id, issuer, identity, target, credential_id,
			scope, status, issued_at, expires_at, revoked_at, cleaned_at, revocation, probes, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(id) DO UPDATE SET credential_id = excluded.credential_id, scope = excluded.scope,
				status = excluded.status, issued_at = excluded.issued_at, expires_at = excluded.expires_at,
				revoked_at = excluded.revoked_at, cleaned_at = excluded.cleaned_at, revocation = excluded.revocation,
				probes = excluded.probes, updated_at = excluded.updated_at`,
			c.ID, c.RunID, c.Issuer, c.Identity, c.Target, c.CredentialID, string(scope), c.Status,
			nullTS(c.IssuedAt), nullTS(c.ExpiresAt), nullTS(c.RevokedAt), nullTS(c.CleanedAt),
			string(rev), string(probes), ts(c.CreatedAt), ts(now)); err != nil {
			return err
		}
		if prev == c.Status {
			return nil
		}
		return s.appendAudit(ctx, tx, "credential."+c.Status, c.ID, map[string]any{
			"identity": c.Identity, "issuer": c.Issuer, "target": c.Target, "credential_id": c.CredentialID,
			"expires_at": nullTS(c.ExpiresAt), "run_id": c.RunID,
		})
	})
}

// Credentials returns ledger rows, oldest first.
func (s *Store) Credentials(ctx context.Context, f ledger.Filter) ([]ledger.Credential, error) {
	q := `SELECT id, run_id, issuer, identity, target, credential_id, scope, status, issued_at, expires_at,
		revoked_at, cleaned_at, revocation, probes, created_at FROM credentials WHERE 1=1`
	var args []any
	if f.Open {
		q += ` AND status IN (?, ?, ?)`
		args = append(args, ledger.Issuing, ledger.Issued, ledger.Revoked)
	}
	if !f.From.IsZero() {
		q += ` AND created_at >= ?`
		args = append(args, ts(f.From))
	}
	if !f.To.IsZero() {
		q += ` AND created_at < ?`
		args = append(args, ts(f.To))
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ledger.Credential
	for rows.Next() {
		var c ledger.Credential
		var scope, rev, probes string
		var issued, expires, revoked, cleaned, created sql.NullString
		if err := rows.Scan(&c.ID, &c.RunID, &c.Issuer, &c.Identity, &c.Target, &c.CredentialID, &scope, &c.Status,
			&issued, &expires, &revoked, &cleaned, &rev, &probes, &created); err != nil {
			return nil, err
		}
		c.IssuedAt, c.ExpiresAt, c.RevokedAt = parseTS(issued), parseTS(expires), parseTS(revoked)
		c.CleanedAt, c.CreatedAt = parseTS(cleaned), parseTS(created)
		_ = json.Unmarshal([]byte(scope), &c.Scope)
		_ = json.Unmarshal([]byte(rev), &c.Revocation)
		_ = json.Unmarshal([]byte(probes), &c.Probes)
		out = append(out, c)
	}
	return out, rows.Err()
}

func nullTS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ts(t)
}

func nonNilMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
