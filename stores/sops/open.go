package sops

import (
	"context"
	"path/filepath"

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
	var globs []string
	for _, g := range inv.SOPS.Paths {
		if !filepath.IsAbs(g) {
			g = filepath.Join(cfg.Dir, g)
		}
		globs = append(globs, g)
	}
	var ids []age.Identity
	if d.Hasher() != nil && inv.SOPS.AgeKeyFile != "" {
		p := inv.SOPS.AgeKeyFile
		if !filepath.IsAbs(p) {
			p = filepath.Join(cfg.Dir, p)
		}
		var err error
		if ids, err = readIdentities(p); err != nil {
			return nil, err
		}
	}
	return []stores.Store{New(cfg.Dir, globs, ids, d.Hasher(), d.Controls())}, nil
}
