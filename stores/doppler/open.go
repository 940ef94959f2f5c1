package doppler

import (
	"context"
	"os"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/stores"
)

// Open opens a store per inventory.doppler workplace.
func Open(_ context.Context, d stores.Deps) ([]stores.Store, error) {
	inv := d.Config().Inventory
	if inv == nil || len(inv.Doppler) == 0 {
		return nil, nil
	}
	var out []stores.Store
	for _, w := range inv.Doppler {
		out = append(out, New(NewClient(w.APIURL, os.Getenv(TokenEnv(w))), w.Name, w.Projects, d.Hasher(), d.Controls()))
	}
	return out, nil
}

// TokenEnv is the variable holding a workplace's token.
func TokenEnv(w config.Doppler) string {
	if w.TokenEnv != "" {
		return w.TokenEnv
	}
	return "DOPPLER_TOKEN"
}
