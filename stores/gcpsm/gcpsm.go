// Package gcpsm inventories Google Secret Manager secrets of a project:
// names, labels (owner, env, rotation_days), annotations, the rotation
// policy (next rotation time, period), expiry, replication and versions
// with their states, through the official client over gRPC; with hashing
// on, the latest version and every other enabled version are hashed at once
// (an enabled version can be accessed, so a leak of it is live). Declared
// paths: gcpsm:PROJECT/NAME.
package gcpsm

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/iterator"

	"github.com/vigilsec/vigil/stores"
)

// Store is one project.
type Store struct {
	client  *secretmanager.Client
	project string
	hasher  stores.Hasher
	// Calls counts API requests.
	Calls atomic.Int64
}

// New returns the store of project behind client; hasher nil: no value is
// read.
func New(client *secretmanager.Client, project string, hasher stores.Hasher) *Store {
	return &Store{client: client, project: project, hasher: hasher}
}

// Name implements stores.Store.
func (s *Store) Name() string { return "gcpsm:" + s.project }

// Covers implements stores.Store.
func (s *Store) Covers() []string { return []string{"gcpsm:" + s.project + "/"} }

// List implements stores.Store.
func (s *Store) List(ctx context.Context, emit func(stores.Secret)) error {
	it := s.client.ListSecrets(ctx, &secretmanagerpb.ListSecretsRequest{Parent: "projects/" + s.project, PageSize: 100})
	for {
		sec, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: list secrets: %w", s.Name(), err)
		}
		out, err := s.secret(ctx, sec)
		if err != nil {
			return err
		}
		emit(out)
	}
}

func (s *Store) secret(ctx context.Context, sec *secretmanagerpb.Secret) (stores.Secret, error) {
	name := sec.GetName()[strings.LastIndex(sec.GetName(), "/")+1:]
	out := stores.Secret{Path: "gcpsm:" + s.project + "/" + name, Store: s.Name(), Where: sec.GetName()}
	if t := sec.GetCreateTime(); t != nil {
		out.Created = t.AsTime()
	}
	if t := sec.GetExpireTime(); t != nil {
		out.Expires = t.AsTime()
	}
	// Labels first; annotations (free text, where teams often put an
	// owner's e-mail) fill what labels leave empty.
	for k, v := range sec.GetAnnotations() {
		switch strings.ToLower(k) {
		case "owner":
			out.Owner = v
		case "env", "environment":
			out.Env = v
		}
	}
	for k, v := range sec.GetLabels() {
		switch strings.ToLower(k) {
		case "owner":
			out.Owner = v
		case "env", "environment":
			out.Env = v
		case "rotation_days", "rotation-days":
			out.RotationDays, _ = strconv.Atoi(v)
		}
	}
	if r := sec.GetRotation(); r != nil {
		out.RotationEnabled = r.GetNextRotationTime() != nil
		if p := r.GetRotationPeriod(); p != nil && out.RotationDays == 0 {
			out.RotationDays = int(p.AsDuration().Hours() / 24)
		}
	}
	// Versions: how many, which are enabled, and the newest (the value's
	// last change, and what "latest" resolves to).
	var enabled []string
	latest := ""
	it := s.client.ListSecretVersions(ctx, &secretmanagerpb.ListSecretVersionsRequest{Parent: sec.GetName(), PageSize: 100})
	for {
		v, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("%s: versions of %s: %w", s.Name(), name, err)
		}
		if v.GetState() == secretmanagerpb.SecretVersion_DESTROYED {
			continue
		}
		out.Versions++
		if t := v.GetCreateTime(); t != nil && t.AsTime().After(out.Updated) {
			out.Updated, latest = t.AsTime(), v.GetName()
		}
		if v.GetState() == secretmanagerpb.SecretVersion_ENABLED {
			enabled = append(enabled, v.GetName())
		}
	}
	if s.hasher == nil {
		return out, nil
	}
	for _, v := range enabled {
		s.Calls.Add(1)
		got, err := s.client.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: v})
		if err != nil {
			return out, fmt.Errorf("%s: access %s: %w", s.Name(), v, err)
		}
		out.Hashes = append(out.Hashes, stores.ValueHash{Version: v[strings.LastIndex(v, "/")+1:], Current: v == latest,
			Hash: s.hasher.Hash(string(got.GetPayload().GetData()))})
	}
	return out, nil
}
