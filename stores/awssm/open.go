package awssm

import (
	"context"
	"fmt"

	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/vigilsec/vigil/stores"
)

// Open opens a store per aws: account and inventory.awssm region.
func Open(ctx context.Context, d stores.Deps) ([]stores.Store, error) {
	cfg := d.Config()
	if cfg.Inventory == nil || cfg.Inventory.AWSSM == nil {
		return nil, nil
	}
	var out []stores.Store
	for _, region := range Regions(cfg.Inventory.AWSSM.Regions, cfg.AWS.Region) {
		accts, err := d.AWSAccounts(ctx, region)
		if err != nil {
			return nil, err
		}
		for _, a := range accts {
			out = append(out, New(sm.NewFromConfig(a.Config), Name(a.Name, region), d.Hasher()))
		}
	}
	return out, nil
}

// Regions are the regions Secrets Manager is listed in: those configured,
// else the aws: section's.
func Regions(configured []string, def string) []string {
	if len(configured) > 0 {
		return configured
	}
	return []string{def}
}

// Name names a store instance: the inventory's findings and the rotation
// handler both key it so.
func Name(account, region string) string { return fmt.Sprintf("awssm:%s/%s", account, region) }
