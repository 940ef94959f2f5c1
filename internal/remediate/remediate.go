// Package remediate plans, applies, verifies and rolls back changes that fix
// findings: rotating a secret (Secrets Manager, Vault KV v2), narrowing an
// IAM principal to its declaration, deactivating an old or unused access key
// and quarantining a principal whose key leaked.
//
// Every action is a row in the store written before anything changes, with
// the state that undoes each step as it is taken (policy documents, version
// ids, key states; never a secret value). So an apply that is killed half
// way is found by the next one and rolled back, and `vigil remediate
// rollback` can restore any applied action later. Each change of an
// action's status is a row of the audit hash chain: who (the caller
// identity), what, the keyed hashes of the state before and after, and why
// (the findings).
package remediate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/store"
)

// Action kinds.
const (
	KindRotateAWSSM   = "rotate.awssm"
	KindRotateVault   = "rotate.vault"
	KindRotateAzureKV = "rotate.azkv"
	KindRotateGCPSM   = "rotate.gcpsm"
	KindRotateDoppler = "rotate.doppler"
	KindNarrow        = "iam.narrow"
	KindDeactivateKey = "iam.deactivate_key"
	KindQuarantine    = "iam.quarantine"
	KindNarrowTrust   = "iam.narrow_trust"
)

// LockName is the store lock every apply and rollback holds, so two of them
// never change the same things at once.
const LockName = "remediate"

// ErrVerify marks an apply whose change was made but could not be proven to
// work (validation command failed, a probe the job needs was denied): the
// engine rolls it back.
var ErrVerify = errors.New("verification failed")

// Handler carries out one kind of action. Apply records in a.State, through
// save, each step before it is taken, so that Rollback can undo whatever an
// interrupted or failed Apply got to, working from a.State alone. Both set
// a.BeforeHash / a.AfterHash and a.Caller.
type Handler interface {
	Apply(ctx context.Context, a *store.Action, save func() error) error
	Rollback(ctx context.Context, a *store.Action, save func() error) error
}

// Engine applies and rolls back actions.
type Engine struct {
	Store *store.Store
	// Handlers by action kind; a kind without one fails with a clear error
	// (the config does not give vigil the store or account it needs).
	Handlers map[string]Handler
	Log      *slog.Logger
	// LeaseTTL is how long the remediation lease lives unrenewed (default
	// store.DefaultLeaseTTL).
	LeaseTTL time.Duration
	// AllowUnverified lets Apply make changes no probe can verify (a
	// narrowing of an identity that declares no probes).
	AllowUnverified bool
}

// ErrUnverified marks an action left planned because nothing could verify
// it and AllowUnverified was not given.
var ErrUnverified = errors.New("unverified")

func (e *Engine) log() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

// Apply applies every action of plan planID that is not done yet, after
// rolling back whatever an interrupted apply left half done. An action
// whose findings were already remediated by another action since they were
// last seen is skipped, so applying a plan twice, or two plans for the same
// findings, changes things once.
// only, when given, limits the apply to those actions of the plan.
func (e *Engine) Apply(ctx context.Context, planID string, only ...string) ([]store.Action, error) {
	holder := "apply:" + planID
	ctx, release, err := e.Store.Hold(ctx, LockName, holder, e.LeaseTTL)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := e.Recover(ctx); err != nil {
		return nil, err
	}
	acts, err := e.Store.Actions(ctx, store.ActionFilter{PlanID: planID})
	if err != nil {
		return nil, err
	}
	if len(acts) == 0 {
		return nil, fmt.Errorf("plan %s: no such plan, or it has no actions", planID)
	}
	if len(only) > 0 {
		var sel []store.Action
		for _, a := range acts {
			if slices.Contains(only, a.ID) {
				sel = append(sel, a)
			}
		}
		if len(sel) != len(only) {
			return nil, fmt.Errorf("plan %s does not have every action asked for (%s)", planID, strings.Join(only, ", "))
		}
		acts = sel
	}
	for i := range acts {
		if ctx.Err() != nil {
			break
		}
		if err := e.apply(ctx, &acts[i]); err != nil {
			return acts, err
		}
	}
	return acts, ctx.Err()
}

// apply carries out one action. The returned error is for the store only;
// the action's own failure is in its status and Error.
func (e *Engine) apply(ctx context.Context, a *store.Action) error {
	bg := context.WithoutCancel(ctx)
	save := func() error { return e.Store.SaveAction(bg, a) }
	if a.Done() {
		return nil
	}
	if by, err := e.Superseded(ctx, a.Findings, a.ID); err != nil {
		return err
	} else if by != "" {
		a.Status, a.Error = store.ActSkipped, "already remediated by action "+by
		return save()
	}
	h := e.Handlers[a.Kind]
	if h == nil {
		a.Status, a.Error = store.ActFailed, fmt.Sprintf("vigil can't carry out %s here: the config gives no store or account for %s", a.Kind, a.Target)
		return save()
	}
	if u, _ := a.Spec["unverified"].(bool); u && !e.AllowUnverified {
		// Left planned, not failed: the same plan applies once a person
		// accepts the risk.
		a.Error = fmt.Sprintf("%v: not applied: nothing can verify this change; add --allow-unverified to apply it anyway", ErrUnverified)
		e.log().Warn("unverified action left planned", "action", a.ID, "target", a.Target)
		return nil
	}
	a.Status, a.Error = store.ActApplying, ""
	if err := save(); err != nil {
		return err
	}
	e.log().Info("applying", "action", a.ID, "kind", a.Kind, "target", a.Target)
	err := h.Apply(ctx, a, save)
	if err == nil {
		a.Status, a.AppliedAt = store.ActApplied, time.Now()
		e.log().Info("applied", "action", a.ID, "kind", a.Kind, "target", a.Target)
		return save()
	}
	e.log().Warn("apply failed; rolling back", "action", a.ID, "kind", a.Kind, "target", a.Target, "err", err)
	return e.rollback(bg, h, a, err)
}

// rollback undoes a, recording why.
func (e *Engine) rollback(ctx context.Context, h Handler, a *store.Action, why error) error {
	save := func() error { return e.Store.SaveAction(ctx, a) }
	a.Status, a.Error = store.ActRollingBack, why.Error()
	if err := save(); err != nil {
		return err
	}
	if err := h.Rollback(ctx, a, save); err != nil {
		a.Status, a.Error = store.ActFailed, fmt.Sprintf("%v; rollback failed too: %v", why, err)
		e.log().Error("rollback failed: a person must look", "action", a.ID, "target", a.Target, "err", err)
		return save()
	}
	a.Status, a.RolledBackAt = store.ActRolledBack, time.Now()
	return save()
}

// Recover rolls back every action an interrupted apply or rollback left
// part way: the state says which steps were taken.
func (e *Engine) Recover(ctx context.Context) error {
	acts, err := e.Store.Actions(ctx, store.ActionFilter{Status: []string{store.ActApplying, store.ActRollingBack}})
	if err != nil {
		return err
	}
	for i := range acts {
		a := &acts[i]
		h := e.Handlers[a.Kind]
		if h == nil {
			return fmt.Errorf("action %s (%s on %s) was interrupted and vigil can't undo it with this config: restore the config's store or account and re-run", a.ID, a.Kind, a.Target)
		}
		e.log().Warn("rolling back an interrupted action", "action", a.ID, "kind", a.Kind, "target", a.Target, "status", a.Status)
		if err := e.rollback(context.WithoutCancel(ctx), h, a, errors.New("interrupted while "+a.Status)); err != nil {
			return err
		}
	}
	return nil
}

// ErrReopensLeak refuses the rollback of a rotation that retired a leaked
// value: it would make the leaked value live again.
var ErrReopensLeak = errors.New("rolling back would put a leaked value back")

// Rollback restores the state before an applied action. A rotation that
// fixed a leak is refused unless force: the rollback writes the leaked
// value back into the store.
func (e *Engine) Rollback(ctx context.Context, id string, force bool) (*store.Action, error) {
	holder := "rollback:" + id
	ctx, release, err := e.Store.Hold(ctx, LockName, holder, e.LeaseTTL)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := e.Recover(ctx); err != nil {
		return nil, err
	}
	acts, err := e.Store.Actions(ctx, store.ActionFilter{IDs: []string{id}})
	if err != nil {
		return nil, err
	}
	if len(acts) == 0 {
		return nil, fmt.Errorf("no remediation action %s", id)
	}
	a := &acts[0]
	if a.Status != store.ActApplied {
		return a, fmt.Errorf("action %s is %s: only an applied action can be rolled back", id, a.Status)
	}
	h := e.Handlers[a.Kind]
	if h == nil {
		return a, fmt.Errorf("vigil can't undo %s here: the config gives no store or account for %s", a.Kind, a.Target)
	}
	if strings.HasPrefix(a.Kind, "rotate.") && !force {
		fs, err := e.Store.Findings(ctx, store.Filter{IDs: a.Findings, Kind: []finding.Kind{finding.KindLeakLive}})
		if err != nil {
			return a, err
		}
		if len(fs) > 0 {
			var names []string
			for _, f := range fs {
				names = append(names, fmt.Sprintf("%s (%s)", finding.ShortID(f.ID), f.Title))
			}
			return a, fmt.Errorf("%w: %s rotated %s away from a value that leaked, and rolling back reopens %s; add --force if you mean it",
				ErrReopensLeak, a.ID, a.Target, strings.Join(names, ", "))
		}
	}
	return a, e.rollback(context.WithoutCancel(ctx), h, a, errors.New("rollback asked for by "+store.Actor()))
}

// Superseded returns the id of an applied action, other than except, that
// addresses any of findings and was applied after the finding was last seen
// open: the fix is in, and the next scan will confirm it.
func (e *Engine) Superseded(ctx context.Context, findings []string, except string) (string, error) {
	if len(findings) == 0 {
		return "", nil
	}
	acts, err := e.Store.Actions(ctx, store.ActionFilter{Findings: findings, Status: []string{store.ActApplied}})
	if err != nil {
		return "", err
	}
	fs, err := e.Store.Findings(ctx, store.Filter{IDs: findings})
	if err != nil {
		return "", err
	}
	lastSeen := map[string]time.Time{}
	for _, f := range fs {
		lastSeen[f.ID] = f.LastSeen
	}
	for _, a := range acts {
		if a.ID == except {
			continue
		}
		for _, fid := range a.Findings {
			// lastSeen holds only the findings asked about.
			if ls, ok := lastSeen[fid]; ok && a.AppliedAt.After(ls) {
				return a.ID, nil
			}
		}
	}
	return "", nil
}

// newID returns a random id with prefix.
func newID(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}

// decode turns a spec or state map into a struct through JSON.
func decode(m map[string]any, v any) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// encode turns a struct into a spec or state map.
func encode(v any) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// findingIDs lists the ids of fs.
func findingIDs(fs []finding.Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.ID
	}
	return out
}
