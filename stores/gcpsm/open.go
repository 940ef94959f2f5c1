package gcpsm

import (
	"context"
	"fmt"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"

	"github.com/vigilsec/vigil/stores"
)

// Open opens a store per inventory.gcp_secret_manager project, with
// Application Default Credentials (workload identity, a service account
// key file named by GOOGLE_APPLICATION_CREDENTIALS, gcloud's login).
func Open(ctx context.Context, d stores.Deps) ([]stores.Store, error) {
	inv := d.Config().Inventory
	if inv == nil || len(inv.GCPSecretManager) == 0 {
		return nil, nil
	}
	var out []stores.Store
	for _, p := range inv.GCPSecretManager {
		c, err := NewClient(ctx, p.Project)
		if err != nil {
			return nil, err
		}
		out = append(out, New(c, p.Project, d.Hasher()))
	}
	return out, nil
}

// NewClient returns a Secret Manager client with Application Default
// Credentials; the inventory reads with it, remediation writes with it.
func NewClient(ctx context.Context, project string) (*secretmanager.Client, error) {
	c, err := secretmanager.NewClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("gcpsm:%s: %w", project, err)
	}
	return c, nil
}
