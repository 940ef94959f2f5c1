// Package vault inventories Vault / OpenBao KV v2 mounts: it walks each mount
// with LIST on metadata/, reads each secret's metadata (times, versions,
// custom_metadata owner/env/rotation_days), and only when asked reads the
// current and previous values, hashing them at once.
package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/openbao/openbao/api/v2"
	"github.com/vigilsec/vigil/stores"
)

// Store is one Vault or OpenBao server.
type Store struct {
	client *api.Client
	name   string
	mounts []string
	hasher stores.Hasher
}

// New returns a store over an authenticated client. mounts lists KV v2
// mounts to walk (empty: every KV v2 mount the token can see). With a nil
// hasher, values are never read.
func New(client *api.Client, name string, mounts []string, h stores.Hasher) *Store {
	return &Store{client: client, name: name, mounts: mounts, hasher: h}
}

// Name implements stores.Store.
func (s *Store) Name() string { return s.name }

// Covers implements stores.Store.
func (s *Store) Covers() []string { return []string{"vault:"} }

// List implements stores.Store.
func (s *Store) List(ctx context.Context, emit func(stores.Secret)) error {
	mounts := s.mounts
	if len(mounts) == 0 {
		var err error
		if mounts, err = s.kvMounts(ctx); err != nil {
			return err
		}
	}
	for _, m := range mounts {
		if err := s.walk(ctx, strings.Trim(m, "/"), "", emit); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) kvMounts(ctx context.Context) ([]string, error) {
	ms, err := s.client.Sys().ListMountsWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: list mounts: %w", s.name, err)
	}
	var out []string
	for path, m := range ms {
		if m.Type == "kv" && m.Options["version"] == "2" {
			out = append(out, strings.TrimSuffix(path, "/"))
		}
	}
	sort.Strings(out)
	return out, nil
}

func (s *Store) walk(ctx context.Context, mount, prefix string, emit func(stores.Secret)) error {
	l, err := s.client.Logical().ListWithContext(ctx, mount+"/metadata/"+prefix)
	if err != nil {
		return fmt.Errorf("%s: list %s/%s: %w", s.name, mount, prefix, err)
	}
	if l == nil {
		if prefix == "" {
			// An empty mount and a mount that does not exist both list as
			// nothing; only the first is a complete listing.
			return s.checkMount(ctx, mount)
		}
		return nil // an empty folder
	}
	keys, _ := l.Data["keys"].([]any)
	for _, k := range keys {
		key, _ := k.(string)
		if strings.HasSuffix(key, "/") {
			if err := s.walk(ctx, mount, prefix+key, emit); err != nil {
				return err
			}
			continue
		}
		sec, err := s.secret(ctx, mount, prefix+key)
		if err != nil {
			return err
		}
		emit(sec)
	}
	return nil
}

// checkMount asks whether mount exists and is KV v2, through the endpoint
// any token with some capability on the mount may read (the one the UI
// uses), so an audit token needs no sys/mounts permission for it.
func (s *Store) checkMount(ctx context.Context, mount string) error {
	m, err := s.client.Logical().ReadWithContext(ctx, "sys/internal/ui/mounts/"+mount)
	if err != nil || m == nil {
		return fmt.Errorf("%s: mount %s does not exist, or this token can see nothing in it: nothing listed is not a complete listing", s.name, mount)
	}
	t, _ := m.Data["type"].(string)
	opts, _ := m.Data["options"].(map[string]any)
	if v, _ := opts["version"].(string); t != "kv" || v != "2" {
		return fmt.Errorf("%s: mount %s is not a KV v2 mount (type %q, version %q)", s.name, mount, t, v)
	}
	return nil
}

func ts(v any) time.Time {
	str, _ := v.(string)
	t, _ := time.Parse(time.RFC3339Nano, str)
	return t
}

func num(v any) int {
	switch x := v.(type) {
	case json.Number:
		n, _ := x.Int64()
		return int(n)
	case float64:
		return int(x)
	case int:
		return x
	case string:
		n, _ := strconv.Atoi(x)
		return n
	}
	return 0
}

func (s *Store) secret(ctx context.Context, mount, path string) (stores.Secret, error) {
	md, err := s.client.Logical().ReadWithContext(ctx, mount+"/metadata/"+path)
	if err != nil {
		return stores.Secret{}, fmt.Errorf("%s: read metadata of %s/%s: %w", s.name, mount, path, err)
	}
	sec := stores.Secret{Path: "vault:" + mount + "/" + path, Store: s.name, Where: s.client.Address() + "/v1/" + mount + "/metadata/" + path}
	if md == nil {
		return sec, nil
	}
	d := md.Data
	sec.Created, sec.Updated = ts(d["created_time"]), ts(d["updated_time"])
	current := num(d["current_version"])
	versions, _ := d["versions"].(map[string]any)
	sec.Versions = len(versions)
	if v, ok := versions[strconv.Itoa(current)].(map[string]any); ok {
		sec.LastRotated = ts(v["created_time"])
	}
	if cm, ok := d["custom_metadata"].(map[string]any); ok {
		sec.Owner, _ = cm["owner"].(string)
		sec.Env, _ = cm["env"].(string)
		if r, ok := cm["rotation_days"].(string); ok {
			sec.RotationDays, _ = strconv.Atoi(r)
		}
	}
	if s.hasher == nil {
		return sec, nil
	}
	// The current value and the one before it: a leaked value rotated away
	// yesterday is still worth knowing about.
	for _, ver := range []int{current, current - 1} {
		v, ok := versions[strconv.Itoa(ver)].(map[string]any)
		if ver < 1 || !ok || v["destroyed"] == true || ts(v["deletion_time"]).Before(time.Now()) && !ts(v["deletion_time"]).IsZero() {
			continue
		}
		data, err := s.client.Logical().ReadWithDataWithContext(ctx, mount+"/data/"+path, map[string][]string{"version": {strconv.Itoa(ver)}})
		if err != nil {
			return sec, fmt.Errorf("%s: read %s/%s version %d: %w", s.name, mount, path, ver, err)
		}
		if data == nil {
			continue
		}
		fields, _ := data.Data["data"].(map[string]any)
		for f, val := range fields {
			str, ok := val.(string)
			if !ok {
				b, _ := json.Marshal(val)
				str = string(b)
			}
			sec.Hashes = append(sec.Hashes, stores.ValueHash{Version: strconv.Itoa(ver), Field: f, Current: ver == current, Hash: s.hasher.Hash(str)})
		}
	}
	return sec, nil
}
