package remediate

import (
	"context"
	"errors"
	"fmt"

	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/stores/azkv"
)

// AzureKV rotates Key Vault secrets: a new version is set, validated, and
// then the version before it is disabled (so a leak of it stops being
// live). Key Vault serves its newest version, so a rollback re-enables the
// old version, sets its value again as the newest, and disables vigil's.
// No value is kept: the old one is read back from its version.
type AzureKV struct {
	Stores map[string]*azkv.Writer // by store name, "azkv:VAULT"
	Hasher *secrethash.Hasher
	Values *Values
}

type azkvState struct {
	FromVersion    string `json:"from_version,omitempty"`
	WrittenVersion string `json:"written_version,omitempty"`
	Step           string `json:"step,omitempty"` // write | validated | done | rolled_back
}

func (h *AzureKV) writer(spec RotateSpec) (*azkv.Writer, error) {
	w, ok := h.Stores[spec.Store]
	if !ok {
		return nil, fmt.Errorf("no Azure Key Vault store %q in the config", spec.Store)
	}
	return w, nil
}

// Apply implements Handler.
func (h *AzureKV) Apply(ctx context.Context, a *store.Action, save func() error) error {
	var spec RotateSpec
	var st azkvState
	if err := errors.Join(decode(a.Spec, &spec), decode(a.State, &st)); err != nil {
		return err
	}
	w, err := h.writer(spec)
	if err != nil {
		return err
	}
	old, from, err := w.Version(ctx, spec.Secret, "")
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
	if st.WrittenVersion, err = w.Put(ctx, spec.Secret, fresh); err != nil {
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
func (h *AzureKV) Rollback(ctx context.Context, a *store.Action, save func() error) error {
	var spec RotateSpec
	var st azkvState
	if err := errors.Join(decode(a.Spec, &spec), decode(a.State, &st)); err != nil {
		return err
	}
	if st.Step == "" || st.Step == "rolled_back" || st.FromVersion == "" {
		return nil
	}
	w, err := h.writer(spec)
	if err != nil {
		return err
	}
	_, cur, err := w.Version(ctx, spec.Secret, "")
	if err != nil {
		return err
	}
	if cur == st.FromVersion {
		return nil // the new version was never set
	}
	if st.WrittenVersion == "" {
		// Key Vault has no check-and-set: without vigil's own version on
		// record, the newer one may be someone else's.
		return fmt.Errorf("%s is at version %s, and vigil did not record the version it set (it stopped in between): check by hand which is whose", spec.Path, cur)
	}
	if cur != st.WrittenVersion {
		return fmt.Errorf("%s is at version %s, set after vigil's %s: not overwriting someone else's value", spec.Path, cur, st.WrittenVersion)
	}
	if err := w.Enable(ctx, spec.Secret, st.FromVersion, true); err != nil {
		return err
	}
	prev, _, err := w.Version(ctx, spec.Secret, st.FromVersion)
	if err != nil {
		return err
	}
	if _, err := w.Put(ctx, spec.Secret, prev); err != nil {
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
