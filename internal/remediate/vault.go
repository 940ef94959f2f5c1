package remediate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/stores/vault"
)

// VaultKV rotates KV v2 secrets. The new version is written with
// check-and-set on the version read, so a concurrent writer makes the
// rotation fail rather than be overwritten; a failed validation writes the
// previous value back as a newer version (KV v2 keeps history, it has no
// "undo").
type VaultKV struct {
	Stores map[string]*vault.KV // by store name
	Hasher *secrethash.Hasher
	Values *Values
}

type kvState struct {
	FromVersion    int    `json:"from_version,omitempty"`
	WrittenVersion int    `json:"written_version,omitempty"`
	Field          string `json:"field,omitempty"`
	Step           string `json:"step,omitempty"` // write | done | rolled_back
}

func (h *VaultKV) kv(spec RotateSpec) (*vault.KV, error) {
	k, ok := h.Stores[spec.Store]
	if !ok {
		return nil, fmt.Errorf("no Vault store %q in the config (or vigil could not log in to it)", spec.Store)
	}
	return k, nil
}

// Apply implements Handler.
func (h *VaultKV) Apply(ctx context.Context, a *store.Action, save func() error) error {
	var spec RotateSpec
	var st kvState
	if err := errors.Join(decode(a.Spec, &spec), decode(a.State, &st)); err != nil {
		return err
	}
	kv, err := h.kv(spec)
	if err != nil {
		return err
	}
	a.Caller = kv.Caller(ctx)
	if st.FromVersion, err = kv.CurrentVersion(ctx, spec.Mount, spec.Secret); err != nil {
		return err
	}
	data, err := kv.ReadVersion(ctx, spec.Mount, spec.Secret, st.FromVersion)
	if err != nil {
		return err
	}
	field := spec.Rotation.Field
	if field == "" {
		if len(data) != 1 {
			return fmt.Errorf("%s has %d keys: declare rotation.field, the key to rotate", spec.Path, len(data))
		}
		for k := range data {
			field = k
		}
	}
	old, ok := data[field].(string)
	if !ok {
		return fmt.Errorf("%s has no string key %q", spec.Path, field)
	}
	fresh, err := h.Values.New(ctx, spec.Path, spec.Rotation)
	if err != nil {
		return err
	}
	next := make(map[string]any, len(data))
	for k, v := range data {
		next[k] = v
	}
	next[field] = fresh
	a.BeforeHash, a.AfterHash = h.Hasher.Hash(old), h.Hasher.Hash(fresh)
	st.Field, st.Step = field, "write"
	a.State = encode(st)
	if err := save(); err != nil {
		return err
	}
	if st.WrittenVersion, err = kv.Write(ctx, spec.Mount, spec.Secret, next, st.FromVersion); err != nil {
		return err
	}
	a.State = encode(st)
	if err := save(); err != nil {
		return err
	}
	doc, _ := json.Marshal(next)
	if err := h.Values.Validate(ctx, spec.Path, spec.Rotation, fresh, string(doc)); err != nil {
		return err
	}
	st.Step = "done"
	a.State = encode(st)
	return save()
}

// Rollback implements Handler: the value before is written again as a new
// version, with check-and-set on vigil's own version, so a value someone
// wrote since is never overwritten.
func (h *VaultKV) Rollback(ctx context.Context, a *store.Action, save func() error) error {
	var spec RotateSpec
	var st kvState
	if err := errors.Join(decode(a.Spec, &spec), decode(a.State, &st)); err != nil {
		return err
	}
	if st.Step == "" || st.Step == "rolled_back" {
		return nil
	}
	kv, err := h.kv(spec)
	if err != nil {
		return err
	}
	a.Caller = kv.Caller(ctx)
	cur, err := kv.CurrentVersion(ctx, spec.Mount, spec.Secret)
	if err != nil {
		return err
	}
	if cur == st.FromVersion {
		return nil // the write never happened (or its check-and-set failed)
	}
	// Check-and-set on FromVersion means vigil's write, if it happened, is
	// exactly the next version, even when vigil died before recording it.
	mine := st.FromVersion + 1
	if cur != mine {
		return fmt.Errorf("%s is at version %d, written after vigil's %d: not overwriting someone else's value", spec.Path, cur, mine)
	}
	prev, err := kv.ReadVersion(ctx, spec.Mount, spec.Secret, st.FromVersion)
	if err != nil {
		return err
	}
	if _, err := kv.Write(ctx, spec.Mount, spec.Secret, prev, cur); err != nil {
		return err
	}
	if s, ok := prev[st.Field].(string); ok {
		a.AfterHash = h.Hasher.Hash(s)
	}
	st.Step = "rolled_back"
	a.State = encode(st)
	return save()
}
