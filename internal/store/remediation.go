package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Remediation action statuses.
const (
	ActPlanned     = "planned"      // planned, nothing changed
	ActApplying    = "applying"     // changing: state says how far it got
	ActApplied     = "applied"      // changed and verified
	ActRollingBack = "rolling_back" // undoing
	ActRolledBack  = "rolled_back"  // undone (validation failed, interrupted, or asked for)
	ActFailed      = "failed"       // could not be done or undone: a person must look
	ActSkipped     = "skipped"      // not needed: another action already fixed its findings
)

// Action is one remediation action. Spec and State hold what the change
// needs and what undoes it (policy documents, version ids, key states),
// never a secret value; BeforeHash and AfterHash are keyed hashes of the
// state before and after, the audit log's evidence of what changed.
type Action struct {
	ID       string         `json:"id"`
	PlanID   string         `json:"plan_id"`
	Kind     string         `json:"kind"`
	Target   string         `json:"target"`
	Findings []string       `json:"findings"`
	Title    string         `json:"title"`
	Why      string         `json:"why"`
	Spec     map[string]any `json:"spec"`
	State    map[string]any `json:"state"`
	Status   string         `json:"status"`
	Error    string         `json:"error,omitempty"`
	// Caller is the identity the change was made as (an AWS ARN, a Vault
	// token's display name), as the store saw it.
	Caller       string    `json:"caller,omitempty"`
	BeforeHash   string    `json:"before_hash,omitempty"`
	AfterHash    string    `json:"after_hash,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	AppliedAt    time.Time `json:"applied_at,omitzero"`
	RolledBackAt time.Time `json:"rolled_back_at,omitzero"`
}

// Done reports whether the action reached a final status.
func (a *Action) Done() bool {
	return a.Status == ActApplied || a.Status == ActRolledBack || a.Status == ActFailed || a.Status == ActSkipped
}

// SaveAction writes an action (insert or update). A change of status is
// appended to the audit chain in the same transaction: who, what, before
// and after hashes, and why (the findings).
func (s *Store) SaveAction(ctx context.Context, a *Action) error {
	now := s.now()
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now
	}
	a.UpdatedAt = now
	findings, _ := json.Marshal(nonNil(a.Findings))
	spec, _ := json.Marshal(nonNilMap(a.Spec))
	state, _ := json.Marshal(nonNilMap(a.State))
	return s.tx(ctx, func(tx *Tx) error {
		var prev string
		err := tx.QueryRowContext(ctx, `SELECT status FROM remediation_actions WHERE id = ?`, a.ID).Scan(&prev)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO remediation_actions(id, plan_id, kind, target, findings, title, why,
			spec, state, status, error, caller, before_hash, after_hash, created_at, updated_at, applied_at, rolled_back_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(id) DO UPDATE SET plan_id = excluded.plan_id, findings = excluded.findings, title = excluded.title,
				why = excluded.why, spec = excluded.spec, state = excluded.state, status = excluded.status,
				error = excluded.error, caller = excluded.caller, before_hash = excluded.before_hash,
				after_hash = excluded.after_hash, updated_at = excluded.updated_at, applied_at = excluded.applied_at,
				rolled_back_at = excluded.rolled_back_at`,
			a.ID, a.PlanID, a.Kind, a.Target, string(findings), a.Title, a.Why, string(spec), string(state), a.Status,
			a.Error, a.Caller, a.BeforeHash, a.AfterHash, ts(a.CreatedAt), ts(now), nullTS(a.AppliedAt), nullTS(a.RolledBackAt)); err != nil {
			return err
		}
		if prev == a.Status {
			return nil
		}
		detail := map[string]any{"plan": a.PlanID, "kind": a.Kind, "target": a.Target, "what": a.Title,
			"why": a.Why, "findings": nonNil(a.Findings), "caller": a.Caller,
			"before_hash": a.BeforeHash, "after_hash": a.AfterHash}
		if a.Error != "" {
			detail["error"] = a.Error
		}
		return s.appendAudit(ctx, tx, "remediate."+a.Status, a.ID, detail)
	})
}

// ActionFilter selects remediation actions; empty fields select all.
type ActionFilter struct {
	PlanID   string
	IDs      []string
	Status   []string
	Findings []string // actions addressing any of these findings
}

// Actions returns remediation actions, oldest first.
func (s *Store) Actions(ctx context.Context, f ActionFilter) ([]Action, error) {
	q := `SELECT id, plan_id, kind, target, findings, title, why, spec, state, status, error, caller, before_hash,
		after_hash, created_at, updated_at, applied_at, rolled_back_at FROM remediation_actions WHERE 1=1`
	var args []any
	in := func(col string, vals []string) {
		if len(vals) == 0 {
			return
		}
		q += ` AND ` + col + ` IN (?` + strings.Repeat(`, ?`, len(vals)-1) + `)`
		for _, v := range vals {
			args = append(args, v)
		}
	}
	if f.PlanID != "" {
		q += ` AND plan_id = ?`
		args = append(args, f.PlanID)
	}
	in("id", f.IDs)
	in("status", f.Status)
	if len(f.Findings) > 0 {
		q += ` AND EXISTS (SELECT 1 FROM ` + s.jsonElements("findings") + ` WHERE value IN (?` + strings.Repeat(`, ?`, len(f.Findings)-1) + `))`
		for _, v := range f.Findings {
			args = append(args, v)
		}
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Action
	for rows.Next() {
		var a Action
		var findings, spec, state string
		var created, updated, applied, rolled sql.NullString
		if err := rows.Scan(&a.ID, &a.PlanID, &a.Kind, &a.Target, &findings, &a.Title, &a.Why, &spec, &state, &a.Status,
			&a.Error, &a.Caller, &a.BeforeHash, &a.AfterHash, &created, &updated, &applied, &rolled); err != nil {
			return nil, err
		}
		if err := errors.Join(json.Unmarshal([]byte(findings), &a.Findings), json.Unmarshal([]byte(spec), &a.Spec),
			json.Unmarshal([]byte(state), &a.State)); err != nil {
			return nil, fmt.Errorf("remediation action %s: %w", a.ID, err)
		}
		a.CreatedAt, a.UpdatedAt, a.AppliedAt, a.RolledBackAt = parseTS(created), parseTS(updated), parseTS(applied), parseTS(rolled)
		out = append(out, a)
	}
	return out, rows.Err()
}
