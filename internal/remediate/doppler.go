package remediate

import (
	"context"
	"errors"
	"fmt"

	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/stores/doppler"
)

// DopplerSecrets rotates Doppler secrets. The new value is written with
// check-and-set on the value read (Doppler refuses the write if it changed
// meanwhile), and the config log the write made is recorded before the new
// value is validated: a rollback asks Doppler to roll that log back, so the
// old value comes back from Doppler's own history and vigil never keeps it.
type DopplerSecrets struct {
	Stores map[string]doppler.Writer // by store name ("doppler:NAME")
	Hasher *secrethash.Hasher
	Values *Values
}

type dopplerState struct {
	Log  string `json:"log,omitempty"`  // the config log of vigil's write
	Step string `json:"step,omitempty"` // write | written | done | rolled_back
}

func (h *DopplerSecrets) writer(spec RotateSpec) (doppler.Writer, error) {
	w, ok := h.Stores[spec.Store]
	if !ok {
		return doppler.Writer{}, fmt.Errorf("no Doppler store %q in the config", spec.Store)
	}
	return w, nil
}

// Apply implements Handler.
func (h *DopplerSecrets) Apply(ctx context.Context, a *store.Action, save func() error) error {
	var spec RotateSpec
	var st dopplerState
	if err := errors.Join(decode(a.Spec, &spec), decode(a.State, &st)); err != nil {
		return err
	}
	w, err := h.writer(spec)
	if err != nil {
		return err
	}
	raw, computed, err := w.Value(ctx, spec.Secret)
	if err != nil {
		return err
	}
	if raw != computed {
		// The secret refers to another one (${OTHER}): writing a literal
		// would cut the reference; the secret it refers to is the one to
		// rotate.
		return fmt.Errorf("%s refers to another secret: rotate that one", spec.Path)
	}
	fresh, err := h.Values.New(ctx, spec.Path, spec.Rotation)
	if err != nil {
		return err
	}
	a.BeforeHash, a.AfterHash = h.Hasher.Hash(raw), h.Hasher.Hash(fresh)
	st.Step = "write"
	a.State = encode(st)
	if err := save(); err != nil {
		return err
	}
	st.Log, err = w.Set(ctx, spec.Secret, raw, fresh)
	if err != nil {
		return err
	}
	st.Step = "written"
	a.State = encode(st)
	if err := save(); err != nil {
		return err
	}
	if err := h.Values.Validate(ctx, spec.Path, spec.Rotation, fresh, fresh); err != nil {
		return err
	}
	st.Step = "done"
	a.State = encode(st)
	return save()
}

// Rollback implements Handler: only vigil's own value is rolled back (its
// keyed hash is on the action), through Doppler's rollback of the log vigil
// recorded; a value someone wrote since is left alone and named.
func (h *DopplerSecrets) Rollback(ctx context.Context, a *store.Action, save func() error) error {
	var spec RotateSpec
	var st dopplerState
	if err := errors.Join(decode(a.Spec, &spec), decode(a.State, &st)); err != nil {
		return err
	}
	if st.Step == "" || st.Step == "rolled_back" {
		return nil
	}
	w, err := h.writer(spec)
	if err != nil {
		return err
	}
	cur, _, err := w.Value(ctx, spec.Secret)
	if err != nil {
		return err
	}
	switch h.Hasher.Hash(cur) {
	case a.BeforeHash:
		return nil // the write never happened (or its check-and-set was refused)
	case a.AfterHash:
	default:
		return fmt.Errorf("%s holds neither the value vigil read nor the one it wrote: someone changed it since; not rolling back", spec.Path)
	}
	if st.Log == "" {
		return fmt.Errorf("%s holds vigil's value, but vigil did not record the config log of its write (it stopped in between, or another change landed at once): roll it back in Doppler's activity log by hand", spec.Path)
	}
	if err := w.Rollback(ctx, spec.Secret, st.Log); err != nil {
		return err
	}
	back, _, err := w.Value(ctx, spec.Secret)
	if err != nil {
		return err
	}
	if h.Hasher.Hash(back) != a.BeforeHash {
		return fmt.Errorf("%s: Doppler rolled back log %s but the secret does not hold the value before it", spec.Path, st.Log)
	}
	a.AfterHash = a.BeforeHash
	st.Step = "rolled_back"
	a.State = encode(st)
	return save()
}
