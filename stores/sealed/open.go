package sealed

import (
	"context"
	"crypto/rsa"

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
	var keys []*rsa.PrivateKey
	if d.Hasher() != nil && inv.SealedSecrets.PrivateKeyFile != "" {
		var err error
		if keys, err = readKeys(inv.SealedSecrets.PrivateKeyFile); err != nil {
			return nil, err
		}
	}
	return []stores.Store{New(cfg.Dir, inv.SealedSecrets.Paths, keys, d.Hasher())}, nil
}
