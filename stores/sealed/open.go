package sealed

import (
	"context"
	"crypto/rsa"
	"path/filepath"

	"github.com/vigilsec/vigil/stores"
)

// Open opens the store of inventory.sealed_secrets. The private key file
// is read only when values are hashed.
func Open(_ context.Context, d stores.Deps) ([]stores.Store, error) {
	cfg := d.Config()
	inv := cfg.Inventory
	if inv == nil || inv.SealedSecrets == nil {
		return nil, nil
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(cfg.Dir, p)
	}
	var globs []string
	for _, g := range inv.SealedSecrets.Paths {
		globs = append(globs, abs(g))
	}
	var keys []*rsa.PrivateKey
	if d.Hasher() != nil && inv.SealedSecrets.PrivateKeyFile != "" {
		var err error
		if keys, err = readKeys(abs(inv.SealedSecrets.PrivateKeyFile)); err != nil {
			return nil, err
		}
	}
	return []stores.Store{New(cfg.Dir, globs, keys, d.Hasher())}, nil
}
