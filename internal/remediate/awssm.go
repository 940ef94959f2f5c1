package remediate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/stores/awssm"
)

// SecretsManager rotates Secrets Manager secrets the way AWS's own rotation
// does: the new value is staged as AWSPENDING, validated, then promoted to
// AWSCURRENT, which leaves the old one as AWSPREVIOUS for the grace period.
// A failed validation removes AWSPENDING; AWSCURRENT was never touched.
type SecretsManager struct {
	Stores map[string]*awssm.Writer // by inventory store name, "awssm:<account>/<region>"
	Hasher *secrethash.Hasher
	Values *Values
}

// RotateSpec is what a planned rotation names.
type RotateSpec struct {
	Store    string          `json:"store"`
	Path     string          `json:"path"`   // awssm:NAME or vault:MOUNT/PATH
	Secret   string          `json:"secret"` // the name in the store
	Mount    string          `json:"mount,omitempty"`
	Rotation *rules.Rotation `json:"rotation"`
}

// smState is how far a rotation got.
type smState struct {
	FromVersion    string    `json:"from_version,omitempty"`    // AWSCURRENT before
	PendingVersion string    `json:"pending_version,omitempty"` // our new version, once asked for
	Step           string    `json:"step,omitempty"`            // put | promote | done
	GraceUntil     time.Time `json:"grace_until,omitzero"`
}

func (h *SecretsManager) store(spec RotateSpec) (*awssm.Writer, error) {
	w, ok := h.Stores[spec.Store]
	if !ok {
		return nil, fmt.Errorf("no Secrets Manager store %q in the config", spec.Store)
	}
	return w, nil
}

// Apply implements Handler.
func (h *SecretsManager) Apply(ctx context.Context, a *store.Action, save func() error) error {
	var spec RotateSpec
	var st smState
	if err := errors.Join(decode(a.Spec, &spec), decode(a.State, &st)); err != nil {
		return err
	}
	w, err := h.store(spec)
	if err != nil {
		return err
	}
	a.Caller = w.Caller(ctx)
	step := func(name string) error {
		st.Step = name
		a.State = encode(st)
		return save()
	}
	stages, err := w.Stages(ctx, spec.Secret)
	if err != nil {
		return err
	}
	st.FromVersion = awssm.StageOf(stages, "AWSCURRENT")
	if st.FromVersion == "" {
		return fmt.Errorf("%s: %s has no AWSCURRENT version", spec.Store, spec.Secret)
	}
	if p := awssm.StageOf(stages, "AWSPENDING"); p != "" {
		return fmt.Errorf("%s: %s already has an AWSPENDING version (%s): another rotation is under way", spec.Store, spec.Secret, p)
	}
	old, err := w.Value(ctx, spec.Secret, st.FromVersion)
	if err != nil {
		return err
	}
	fresh, err := h.Values.New(ctx, spec.Path, spec.Rotation)
	if err != nil {
		return err
	}
	doc, oldField, err := replaceField(old, spec.Rotation.Field, fresh)
	if err != nil {
		return fmt.Errorf("%s: %w", spec.Path, err)
	}
	a.BeforeHash, a.AfterHash = h.Hasher.Hash(oldField), h.Hasher.Hash(fresh)

	// The version id is chosen and recorded before the call: if vigil dies
	// during it, the rollback knows which version to unstage.
	st.PendingVersion = uuid.NewString() // AWS's ClientRequestToken form
	if err := step("put"); err != nil {
		return err
	}
	if err := w.PutPending(ctx, spec.Secret, st.PendingVersion, doc); err != nil {
		return err
	}
	if err := h.Values.Validate(ctx, spec.Path, spec.Rotation, fresh, doc); err != nil {
		return err
	}
	if err := step("promote"); err != nil {
		return err
	}
	if err := w.MoveStage(ctx, spec.Secret, "AWSCURRENT", st.PendingVersion, st.FromVersion); err != nil {
		return err
	}
	if err := w.MoveStage(ctx, spec.Secret, "AWSPENDING", "", st.PendingVersion); err != nil {
		return err
	}
	// Verify by reading what the store now serves as current.
	curVersion, curValue, err := w.Current(ctx, spec.Secret)
	if err != nil {
		return err
	}
	if curVersion != st.PendingVersion || h.Hasher.Hash(curValue) != h.Hasher.Hash(doc) {
		return fmt.Errorf("%w: %s: AWSCURRENT is not the new value after promotion", ErrVerify, spec.Secret)
	}
	grace := 7
	if spec.Rotation.GraceDays > 0 {
		grace = spec.Rotation.GraceDays
	}
	st.GraceUntil = time.Now().UTC().Add(time.Duration(grace) * 24 * time.Hour)
	return step("done")
}

// Rollback implements Handler: AWSCURRENT goes back to the version it was
// on, and our version loses every stage.
func (h *SecretsManager) Rollback(ctx context.Context, a *store.Action, save func() error) error {
	var spec RotateSpec
	var st smState
	if err := errors.Join(decode(a.Spec, &spec), decode(a.State, &st)); err != nil {
		return err
	}
	if st.PendingVersion == "" {
		return nil // nothing was written
	}
	w, err := h.store(spec)
	if err != nil {
		return err
	}
	a.Caller = w.Caller(ctx)
	stages, err := w.Stages(ctx, spec.Secret)
	if err != nil {
		return err
	}
	if cur := awssm.StageOf(stages, "AWSCURRENT"); cur == st.PendingVersion {
		if _, ok := stages[st.FromVersion]; !ok {
			return fmt.Errorf("%s: the version %s was before is gone; restore by hand", spec.Secret, st.FromVersion)
		}
		if err := w.MoveStage(ctx, spec.Secret, "AWSCURRENT", st.FromVersion, st.PendingVersion); err != nil {
			return err
		}
	} else if cur != st.FromVersion {
		return fmt.Errorf("%s: AWSCURRENT is now %s, neither vigil's version nor the one before: someone else rotated it; not touching it", spec.Secret, cur)
	}
	if awssm.StageOf(stages, "AWSPENDING") == st.PendingVersion {
		if err := w.MoveStage(ctx, spec.Secret, "AWSPENDING", "", st.PendingVersion); err != nil {
			return err
		}
	}
	curVersion, curValue, err := w.Current(ctx, spec.Secret)
	if err != nil {
		return err
	}
	if curVersion != st.FromVersion {
		return fmt.Errorf("%s: AWSCURRENT is %s after rollback, not %s", spec.Secret, curVersion, st.FromVersion)
	}
	a.AfterHash = h.Hasher.Hash(fieldOf(curValue, spec.Rotation.Field))
	st.Step = "rolled_back"
	a.State = encode(st)
	return save()
}
