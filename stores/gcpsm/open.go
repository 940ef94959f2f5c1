package gcpsm

import (
	"context"
	"fmt"
	"sync"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"

	"github.com/vigilsec/vigil/stores"
)

// Open opens a store per inventory.gcp_secret_manager project, with
// Application Default Credentials (workload identity, a service account
// key file named by GOOGLE_APPLICATION_CREDENTIALS, gcloud's login).
func Open(_ context.Context, d stores.Deps) ([]stores.Store, error) {
	inv := d.Config().Inventory
	if inv == nil || len(inv.GCPSecretManager) == 0 {
		return nil, nil
	}
	var out []stores.Store
	for _, p := range inv.GCPSecretManager {
		c, err := NewClient(p.Project)
		if err != nil {
			return nil, err
		}
		out = append(out, New(c, p.Project, d.Hasher()))
	}
	return out, nil
}

// NewClient returns the Secret Manager client, with Application Default
// Credentials; the inventory reads with it, remediation writes with it.
// Every request names its project, so one client (one connection) serves
// them all and is made once.
func NewClient(project string) (*secretmanager.Client, error) {
	c, err := sharedClient()
	if err != nil {
		return nil, fmt.Errorf("gcpsm:%s: %w", project, err)
	}
	return c, nil
}

var sharedClient = sync.OnceValues(func() (*secretmanager.Client, error) {
	return secretmanager.NewClient(context.Background())
})
