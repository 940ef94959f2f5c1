package vault

import (
	"context"

	"github.com/vigilsec/vigil/stores"
)

// Open opens a store per inventory.vault entry. One vigil can't log in to
// is a failed store: its listing fails, the others go on.
func Open(ctx context.Context, d stores.Deps) ([]stores.Store, error) {
	inv := d.Config().Inventory
	if inv == nil {
		return nil, nil
	}
	var out []stores.Store
	for _, v := range inv.Vault {
		client, err := d.Vault(ctx, v)
		if err != nil {
			out = append(out, stores.Failed(v.Name, []string{"vault:"}, err))
			continue
		}
		out = append(out, New(client, v.Name, v.Mounts, d.Hasher()))
	}
	return out, nil
}
