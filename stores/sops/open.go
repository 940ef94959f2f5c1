package sops

import (
	"context"
	"fmt"

	"filippo.io/age"

	"github.com/vigilsec/vigil/stores"
)

// Open opens the store of inventory.sops. The age key file is read only
// when values are hashed: without hashing, no key is needed or touched.
func Open(_ context.Context, d stores.Deps) ([]stores.Store, error) {
	cfg := d.Config()
	inv := cfg.Inventory
	if inv == nil || inv.SOPS == nil {
		return nil, nil
	}
	var ids []age.Identity
	if d.Hasher() != nil && inv.SOPS.AgeKeyFile != "" {
		var err error
		if ids, err = readIdentities(inv.SOPS.AgeKeyFile); err != nil {
			return nil, err
		}
	}
	s := New(cfg.Dir, inv.SOPS.Paths, ids, d.Hasher(), d.Controls())
	for _, r := range inv.SOPS.Repos {
		dir, err := d.GitDir(r.Name)
		if err != nil {
			return nil, fmt.Errorf("inventory.sops.repos: %w", err)
		}
		s.WithRepos(Repo{Name: r.Name, Dir: dir, Paths: r.Paths})
	}
	return []stores.Store{s}, nil
}
