package remediate

import (
	"context"
	"errors"
	"fmt"

	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/store"
)

// Versions is what rotating a secret in a store that keeps versions with an
// enabled flag needs (Azure Key Vault, Google Secret Manager): stores/azkv
// and stores/gcpsm each have a Writer with these.
type Versions interface {
	// Current returns the version the store serves and its value.
	Current(ctx context.Context, secret string) (version, value string, err error)
	Value(ctx context.Context, secret, version string) (string, error)
	Add(ctx context.Context, secret, value string) (version string, err error)
	Enable(ctx context.Context, secret, version string, enabled bool) error
}

// Versioned rotates secrets in such stores: a new version is added and
// validated, then the version before it is disabled (a leak of it stops
// being live). Both stores serve their newest version and have no
// check-and-set, so a rollback re-enables the old version, adds its value
// again as the newest and disables vigil's; no value is kept, the old one is
// read back from its version.
type Versioned struct {
	Stores map[string]Versions // by store name ("azkv:VAULT", "gcpsm:PROJECT")
	Hasher *secrethash.Hasher
	Values *Values
}

type versionedState struct {
	FromVersion    string `json:"from_version,omitempty"`
	WrittenVersion string `json:"written_version,omitempty"`
	Step           string `json:"step,omitempty"` // write | validated | done | rolled_back
}

func (h *Versioned) store(spec RotateSpec) (Versions, error) {
	w, ok := h.Stores[spec.Store]
	if !ok {
		return nil, fmt.Errorf("no store %q in the config (or vigil could not reach it)", spec.Store)
	}
	return w, nil
}

// Apply implements Handler.
func (h *Versioned) Apply(ctx context.Context, a *store.Action, save func() error) error {
	var spec RotateSpec
	var st versionedState
	if err := errors.Join(decode(a.Spec, &spec), decode(a.State, &st)); err != nil {
		return err
	}
	w, err := h.store(spec)
	if err != nil {
		return err
	}
	from, old, err := w.Current(ctx, spec.Secret)
	if err != nil {
		return err
	}
	fresh, err := h.Values.New(ctx, spec.Path, spec.Rotation)
	if err != nil {
		return err
	}
	a.BeforeHash, a.AfterHash = h.Hasher.Hash(old), h.Hasher.Hash(fresh)
	st.FromVersion, st.Step = from, "write"
	a.State = encode(st)
	if err := save(); err != nil {
		return err
	}
	if st.WrittenVersion, err = w.Add(ctx, spec.Secret, fresh); err != nil {
		return err
	}
	a.State = encode(st)
	if err := save(); err != nil {
		return err
	}
	if err := h.Values.Validate(ctx, spec.Path, spec.Rotation, fresh, fresh); err != nil {
		return err
	}
	// Proven: the old version is retired.
	st.Step = "validated"
	a.State = encode(st)
	if err := save(); err != nil {
		return err
	}
	if err := w.Enable(ctx, spec.Secret, st.FromVersion, false); err != nil {
		return err
	}
	st.Step = "done"
	a.State = encode(st)
	return save()
}

// Rollback implements Handler.
func (h *Versioned) Rollback(ctx context.Context, a *store.Action, save func() error) error {
	var spec RotateSpec
	var st versionedState
	if err := errors.Join(decode(a.Spec, &spec), decode(a.State, &st)); err != nil {
		return err
	}
	if st.Step == "" || st.Step == "rolled_back" || st.FromVersion == "" {
		return nil
	}
	w, err := h.store(spec)
	if err != nil {
		return err
	}
	cur, _, err := w.Current(ctx, spec.Secret)
	if err != nil {
		return err
	}
	if cur == st.FromVersion {
		return nil // the new version was never added
	}
	if st.WrittenVersion == "" {
		// No check-and-set: without vigil's own version on record, the
		// newer one may be someone else's.
		return fmt.Errorf("%s is at version %s, and vigil did not record the version it added (it stopped in between): check by hand which is whose", spec.Path, cur)
	}
	if cur != st.WrittenVersion {
		return fmt.Errorf("%s is at version %s, added after vigil's %s: not overwriting someone else's value", spec.Path, cur, st.WrittenVersion)
	}
	if err := w.Enable(ctx, spec.Secret, st.FromVersion, true); err != nil {
		return err
	}
	prev, err := w.Value(ctx, spec.Secret, st.FromVersion)
	if err != nil {
		return err
	}
	if _, err := w.Add(ctx, spec.Secret, prev); err != nil {
		return err
	}
	if err := w.Enable(ctx, spec.Secret, cur, false); err != nil {
		return err
	}
	a.AfterHash = h.Hasher.Hash(prev)
	st.Step = "rolled_back"
	a.State = encode(st)
	return save()
}
