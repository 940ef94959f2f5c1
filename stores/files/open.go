package files

import (
	"context"

	"github.com/vigilsec/vigil/stores"
)

// Open opens the files store of inventory.files, its globs relative to
// vigil.yaml.
func Open(_ context.Context, d stores.Deps) ([]stores.Store, error) {
	cfg := d.Config()
	if cfg.Inventory == nil || cfg.Inventory.Files == nil {
		return nil, nil
	}
	f := cfg.Inventory.Files
	return []stores.Store{&Store{Root: cfg.Dir, Env: f.Env, Kubernetes: f.Kubernetes, Pipelines: f.Pipelines,
		Hasher: d.Hasher(), Controls: d.Controls()}}, nil
}
