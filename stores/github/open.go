package github

import (
	"context"
	"os"

	"github.com/vigilsec/vigil/stores"
)

// Open opens a store per inventory.github organisation, with its token from
// the variable the config names (default GITHUB_TOKEN).
func Open(ctx context.Context, d stores.Deps) ([]stores.Store, error) {
	inv := d.Config().Inventory
	if inv == nil || len(inv.GitHub) == 0 {
		return nil, nil
	}
	// Variable values are scanned with the same leak rules as the rest.
	det, err := d.Detector()
	if err != nil {
		return nil, err
	}
	var out []stores.Store
	for _, gs := range inv.GitHub {
		env := gs.TokenEnv
		if env == "" {
			env = "GITHUB_TOKEN"
		}
		client, err := NewClient(os.Getenv(env), gs.BaseURL, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, New(client, gs.Org, det, d.Controls()))
	}
	return out, nil
}
