// Package azkv inventories Azure Key Vault secrets: names, versions,
// created/updated, expiry and not-before, enabled, tags (owner, env,
// rotation_days) and content type, through the official azsecrets client;
// with hashing on, the current value and every still-enabled older version
// are hashed at once (an enabled version is retrievable, so a leak of it is
// live). Declared paths: azkv:VAULT/NAME.
package azkv

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/vigilsec/vigil/stores"
)

// Store is one vault.
type Store struct {
	client *azsecrets.Client
	vault  string // the vault's name, as in declared paths
	hasher stores.Hasher
	// Calls counts API requests.
	Calls atomic.Int64
}

// New returns the store of the vault named vault behind client; hasher nil:
// no value is read.
func New(client *azsecrets.Client, vault string, hasher stores.Hasher) *Store {
	return &Store{client: client, vault: vault, hasher: hasher}
}

// Name implements stores.Store.
func (s *Store) Name() string { return "azkv:" + s.vault }

// Covers implements stores.Store.
func (s *Store) Covers() []string { return []string{"azkv:" + s.vault + "/"} }

// List implements stores.Store.
func (s *Store) List(ctx context.Context, emit func(stores.Secret)) error {
	p := s.client.NewListSecretPropertiesPager(nil)
	for p.More() {
		s.Calls.Add(1)
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("%s: list secrets: %w", s.Name(), err)
		}
		for _, props := range page.Value {
			if props == nil || props.ID == nil {
				continue
			}
			if props.Managed != nil && *props.Managed {
				continue // a certificate's key: the certificate's lifecycle, not a secret's
			}
			sec, err := s.secret(ctx, props)
			if err != nil {
				return err
			}
			emit(sec)
		}
	}
	return nil
}

func (s *Store) secret(ctx context.Context, props *azsecrets.SecretProperties) (stores.Secret, error) {
	name := props.ID.Name()
	sec := stores.Secret{Path: "azkv:" + s.vault + "/" + name, Store: s.Name(), Where: string(*props.ID)}
	if a := props.Attributes; a != nil {
		sec.Created, sec.Updated = deref(a.Created), deref(a.Updated)
		sec.Expires, sec.NotBefore = deref(a.Expires), deref(a.NotBefore)
		sec.Disabled = a.Enabled != nil && !*a.Enabled
	}
	for k, v := range props.Tags {
		if v == nil {
			continue
		}
		switch strings.ToLower(k) {
		case "owner":
			sec.Owner = *v
		case "env", "environment":
			sec.Env = *v
		case "rotation_days":
			sec.RotationDays, _ = strconv.Atoi(*v)
		}
	}
	if props.ContentType != nil {
		sec.ContentType = *props.ContentType
	}
	// Versions: how many, and (hashing on) which older ones are enabled.
	var enabledOld []string
	vp := s.client.NewListSecretPropertiesVersionsPager(name, nil)
	for vp.More() {
		s.Calls.Add(1)
		page, err := vp.NextPage(ctx)
		if err != nil {
			return sec, fmt.Errorf("%s: versions of %s: %w", s.Name(), name, err)
		}
		for _, v := range page.Value {
			if v == nil || v.ID == nil {
				continue
			}
			sec.Versions++
			if v.Attributes != nil && v.Attributes.Enabled != nil && *v.Attributes.Enabled && v.ID.Version() != props.ID.Version() {
				enabledOld = append(enabledOld, v.ID.Version())
			}
		}
	}
	if s.hasher == nil || sec.Disabled {
		return sec, nil
	}
	// "" is the current version.
	cur, err := s.value(ctx, name, "")
	if err != nil {
		return sec, err
	}
	curVersion := ""
	if cur.ID != nil {
		curVersion = cur.ID.Version()
	}
	sec.Hashes = append(sec.Hashes, stores.ValueHash{Version: curVersion, Current: true, Hash: s.hasher.Hash(deref(cur.Value))})
	for _, v := range enabledOld {
		if v == curVersion {
			continue
		}
		old, err := s.value(ctx, name, v)
		if err != nil {
			return sec, err
		}
		sec.Hashes = append(sec.Hashes, stores.ValueHash{Version: v, Hash: s.hasher.Hash(deref(old.Value))})
	}
	return sec, nil
}

// value reads one version; the caller hashes it and lets it go.
func (s *Store) value(ctx context.Context, name, version string) (azsecrets.Secret, error) {
	s.Calls.Add(1)
	out, err := s.client.GetSecret(ctx, name, version, nil)
	if err != nil {
		return azsecrets.Secret{}, fmt.Errorf("%s: get %s (version %q): %w", s.Name(), name, version, err)
	}
	return out.Secret, nil
}

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}
