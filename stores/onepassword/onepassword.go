// Package onepassword inventories 1Password vaults through a Connect
// server: items with their title, category, tags, version and dates, and
// their secret fields by label and type. Values are never kept: Connect
// returns an item's fields only with their values, so each item is read
// whole, its values hashed at once when hash_values is on, and dropped.
//
// Declared paths: 1password:VAULT/ITEM#FIELD for each concealed, one-time
// password or SSH key field (VAULT and ITEM by name, FIELD by label), and
// 1password:VAULT/ITEM for an item with no such field. Tags give the owner,
// env and rotation_days (owner:NAME, owner/NAME or owner=NAME).
package onepassword

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	op "github.com/1Password/connect-sdk-go/onepassword"

	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/stores"
)

// Store is one Connect server, limited to the vaults whose names match.
type Store struct {
	client *Client
	name   string
	vaults []string // globs; none: every vault the token may read
	hasher stores.Hasher
	listed []string // vault names the last List read completely
	// Calls counts API requests.
	Calls atomic.Int64
}

// New returns the store named name (1password:NAME) behind client.
func New(client *Client, name string, vaults []string, hasher stores.Hasher) *Store {
	return &Store{client: client, name: name, vaults: vaults, hasher: hasher}
}

// Name implements stores.Store.
func (s *Store) Name() string { return "1password:" + s.name }

// Covers implements stores.Store: the vaults the last List read whole (a
// vault is named by its title, which only the listing tells).
func (s *Store) Covers() []string {
	out := make([]string, 0, len(s.listed))
	for _, v := range s.listed {
		out = append(out, "1password:"+v+"/")
	}
	return out
}

// secretFields are the field types that hold a credential.
var secretFields = map[op.ItemFieldType]bool{op.FieldTypeConcealed: true, op.FieldTypeOTP: true, op.FieldTypeSSHKey: true, "SSHKEY": true}

// List implements stores.Store.
func (s *Store) List(ctx context.Context, emit func(stores.Secret)) error {
	s.listed = nil
	s.Calls.Add(1)
	vaults, err := s.client.Vaults(ctx)
	if err != nil {
		return fmt.Errorf("%s: list vaults: %w", s.Name(), err)
	}
	sort.Slice(vaults, func(i, j int) bool { return vaults[i].Name < vaults[j].Name })
	var names []string
	for _, v := range vaults {
		names = append(names, v.Name)
		if len(s.vaults) > 0 && !rules.MatchAny(s.vaults, v.Name) {
			continue
		}
		if err := s.vault(ctx, v, emit); err != nil {
			return err
		}
		s.listed = append(s.listed, v.Name)
	}
	if missing := stores.Unmatched(s.vaults, names); len(missing) > 0 {
		return fmt.Errorf("%s: no vault %s (or the token may not read it): its secrets can't be checked", s.Name(), strings.Join(missing, ", "))
	}
	return nil
}

func (s *Store) vault(ctx context.Context, v op.Vault, emit func(stores.Secret)) error {
	s.Calls.Add(1)
	items, err := s.client.Items(ctx, v.ID)
	if err != nil {
		return fmt.Errorf("%s: items of vault %s: %w", s.Name(), v.Name, err)
	}
	// 1Password allows two items with one title: those are named by title
	// and id, so that neither hides the other.
	titles := map[string]int{}
	for _, sum := range items {
		titles[sum.Title]++
	}
	for _, sum := range items {
		s.Calls.Add(1)
		item, err := s.client.Item(ctx, v.ID, sum.ID)
		if err != nil {
			return fmt.Errorf("%s: item %s in vault %s: %w", s.Name(), sum.ID, v.Name, err)
		}
		name := item.Title
		if titles[sum.Title] > 1 {
			name = fmt.Sprintf("%s (%s)", item.Title, item.ID)
		}
		s.item(v, name, item, emit)
	}
	return nil
}

// item emits the item's secret fields, or the item itself when it has
// none; values are hashed (when asked) and go no further.
func (s *Store) item(v op.Vault, name string, it *op.Item, emit func(stores.Secret)) {
	base := stores.Secret{
		Path:     "1password:" + v.Name + "/" + name,
		Store:    s.Name(),
		Where:    fmt.Sprintf("vault %s (%s), item %s (%s)", v.Name, v.ID, it.ID, it.Category),
		Created:  it.CreatedAt,
		Updated:  it.UpdatedAt,
		Versions: it.Version,
	}
	for _, tag := range it.Tags {
		k, val, ok := cutTag(tag)
		if !ok {
			continue
		}
		switch strings.ToLower(k) {
		case "owner":
			base.Owner = val
		case "env", "environment":
			base.Env = val
		case "rotation_days":
			base.RotationDays, _ = strconv.Atoi(val)
		}
	}
	emitted := false
	seen := map[string]int{}
	for _, f := range it.Fields {
		if f == nil || !secretFields[f.Type] {
			continue
		}
		label := f.Label
		if label == "" {
			label = f.ID
		}
		// Two fields with one label (in different sections) stay apart.
		if seen[label]++; seen[label] > 1 {
			label = fmt.Sprintf("%s.%s", label, f.ID)
		}
		sec := base
		sec.Path += "#" + label
		sec.Where += fmt.Sprintf(", field %s (%s)", f.ID, f.Type)
		if s.hasher != nil && f.Value != "" {
			sec.Hashes = []stores.ValueHash{{Version: strconv.Itoa(it.Version), Field: label, Current: true, Hash: s.hasher.Hash(f.Value)}}
		}
		f.Value, f.TOTP = "", ""
		emit(sec)
		emitted = true
	}
	if !emitted {
		emit(base)
	}
}

// cutTag splits owner:NAME, owner/NAME (1Password's nested tags) or
// owner=NAME.
func cutTag(tag string) (string, string, bool) {
	if i := strings.IndexAny(tag, ":/="); i > 0 && i < len(tag)-1 {
		return tag[:i], tag[i+1:], true
	}
	return "", "", false
}

// Check lists the vaults: a pre-flight for `vigil doctor`.
func (s *Store) Check(ctx context.Context) error {
	s.Calls.Add(1)
	if _, err := s.client.Vaults(ctx); err != nil {
		return fmt.Errorf("%s: list vaults: %w", s.Name(), err)
	}
	return nil
}
