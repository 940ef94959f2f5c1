package onepassword

import (
	"context"
	"os"

	"github.com/vigilsec/vigil/internal/config"

	"github.com/vigilsec/vigil/stores"
)

// Open opens a store per inventory.onepassword Connect server, with its
// token from the variable the config names (default OP_CONNECT_TOKEN).
func Open(_ context.Context, d stores.Deps) ([]stores.Store, error) {
	inv := d.Config().Inventory
	if inv == nil || len(inv.OnePassword) == 0 {
		return nil, nil
	}
	var out []stores.Store
	for _, o := range inv.OnePassword {
		out = append(out, New(NewClient(o.URL, os.Getenv(TokenEnv(o))), o.Name, o.Vaults, d.Hasher()))
	}
	return out, nil
}

// TokenEnv is the variable holding a Connect server's token.
func TokenEnv(o config.OnePassword) string {
	if o.TokenEnv != "" {
		return o.TokenEnv
	}
	return "OP_CONNECT_TOKEN"
}
