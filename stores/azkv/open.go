package azkv

import (
	"context"
	"fmt"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/vigilsec/vigil/stores"
)

// Open opens a store per inventory.azure_keyvault vault, with credentials
// from azidentity's default chain (environment, workload identity, managed
// identity, Azure CLI).
func Open(_ context.Context, d stores.Deps) ([]stores.Store, error) {
	inv := d.Config().Inventory
	if inv == nil || len(inv.AzureKeyVault) == 0 {
		return nil, nil
	}
	var out []stores.Store
	for _, v := range inv.AzureKeyVault {
		c, err := NewClient(v.Name, v.VaultURL)
		if err != nil {
			return nil, err
		}
		out = append(out, New(c, v.Name, d.Hasher()))
	}
	return out, nil
}

// credential is the default chain, built once: every vault is the same
// token audience, so one credential's token cache serves them all.
var credential = sync.OnceValues(func() (azcore.TokenCredential, error) {
	return azidentity.NewDefaultAzureCredential(nil)
})

// NewClient returns the client of one vault, with azidentity's default
// credential chain (the inventory reads with it; remediation writes with
// it).
func NewClient(name, vaultURL string) (*azsecrets.Client, error) {
	cred, err := credential()
	if err != nil {
		return nil, fmt.Errorf("azkv:%s: azure credentials: %w", name, err)
	}
	c, err := azsecrets.NewClient(vaultURL, cred, nil)
	if err != nil {
		return nil, fmt.Errorf("azkv:%s (%s): %w", name, vaultURL, err)
	}
	return c, nil
}
