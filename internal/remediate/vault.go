package remediate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/openbao/openbao/api/v2"

	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/store"
)

// VaultKV rotates KV v2 secrets. The new version is written with
// check-and-set on the version read, so a concurrent writer makes the
// rotation fail rather than be overwritten; a failed validation writes the
// previous value back as a newer version (KV v2 keeps history, it has no
// "undo").
type VaultKV struct {
	Clients map[string]*api.Client // by store name
	Hasher  *secrethash.Hasher
	Values  *Values
}

type kvState struct {
	FromVersion    int    `json:"from_version,omitempty"`
	WrittenVersion int    `json:"written_version,omitempty"`
	Field          string `json:"field,omitempty"`
	Step           string `json:"step,omitempty"` // write | done | rolled_back
}

func (h *VaultKV) client(spec RotateSpec) (*api.Client, error) {
	c, ok := h.Clients[spec.Store]
	if !ok {
		return nil, fmt.Errorf("no Vault store %q in the config (or vigil could not log in to it)", spec.Store)
	}
	return c, nil
}

func vaultCaller(ctx context.Context, c *api.Client) string {
	s, err := c.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil || s == nil {
		return "unknown"
	}
	name, _ := s.Data["display_name"].(string)
	acc, _ := s.Data["accessor"].(string)
	return fmt.Sprintf("vault:%s (accessor %s)", name, acc)
}

// currentVersion reads the KV metadata's current_version.
func currentVersion(ctx context.Context, c *api.Client, spec RotateSpec) (int, error) {
	s, err := c.Logical().ReadWithContext(ctx, spec.Mount+"/metadata/"+spec.Secret)
	if err != nil {
		return 0, fmt.Errorf("%s: read metadata of %s: %w", spec.Store, spec.Path, err)
	}
	if s == nil {
		return 0, fmt.Errorf("%s: %s does not exist", spec.Store, spec.Path)
	}
	return intOf(s.Data["current_version"]), nil
}

func intOf(v any) int {
	switch n := v.(type) {
	case json.Number:
		i, _ := n.Int64()
		return int(i)
	case float64:
		return int(n)
	case int:
		return n
	case string:
		i, _ := strconv.Atoi(n)
		return i
	}
	return 0
}

// readVersion reads version v's data.
func readVersion(ctx context.Context, c *api.Client, spec RotateSpec, v int) (map[string]any, error) {
	s, err := c.Logical().ReadWithDataWithContext(ctx, spec.Mount+"/data/"+spec.Secret, map[string][]string{"version": {strconv.Itoa(v)}})
	if err != nil {
		return nil, fmt.Errorf("%s: read %s version %d: %w", spec.Store, spec.Path, v, err)
	}
	if s == nil {
		return nil, fmt.Errorf("%s: %s version %d does not exist", spec.Store, spec.Path, v)
	}
	data, _ := s.Data["data"].(map[string]any)
	if data == nil {
		return nil, fmt.Errorf("%s: %s version %d is deleted or destroyed", spec.Store, spec.Path, v)
	}
	return data, nil
}

// write writes data as a new version with check-and-set on cas.
func write(ctx context.Context, c *api.Client, spec RotateSpec, data map[string]any, cas int) (int, error) {
	s, err := c.Logical().WriteWithContext(ctx, spec.Mount+"/data/"+spec.Secret, map[string]any{"data": data, "options": map[string]any{"cas": cas}})
	if err != nil {
		return 0, fmt.Errorf("%s: write %s (check-and-set on version %d): %w", spec.Store, spec.Path, cas, err)
	}
	if s == nil {
		return 0, fmt.Errorf("%s: write %s returned nothing", spec.Store, spec.Path)
	}
	return intOf(s.Data["version"]), nil
}

// Apply implements Handler.
func (h *VaultKV) Apply(ctx context.Context, a *store.Action, save func() error) error {
	var spec RotateSpec
	var st kvState
	if err := errors.Join(decode(a.Spec, &spec), decode(a.State, &st)); err != nil {
		return err
	}
	c, err := h.client(spec)
	if err != nil {
		return err
	}
	a.Caller = vaultCaller(ctx, c)
	if st.FromVersion, err = currentVersion(ctx, c, spec); err != nil {
		return err
	}
	data, err := readVersion(ctx, c, spec, st.FromVersion)
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
	if st.WrittenVersion, err = write(ctx, c, spec, next, st.FromVersion); err != nil {
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
	c, err := h.client(spec)
	if err != nil {
		return err
	}
	a.Caller = vaultCaller(ctx, c)
	cur, err := currentVersion(ctx, c, spec)
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
	prev, err := readVersion(ctx, c, spec, st.FromVersion)
	if err != nil {
		return err
	}
	if _, err := write(ctx, c, spec, prev, cur); err != nil {
		return err
	}
	if s, ok := prev[st.Field].(string); ok {
		a.AfterHash = h.Hasher.Hash(s)
	}
	st.Step = "rolled_back"
	a.State = encode(st)
	return save()
}
