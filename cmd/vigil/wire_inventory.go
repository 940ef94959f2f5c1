package main

import (
	"context"
	"fmt"
	"os"

	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/vigilsec/vigil/internal/awsconf"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/vaultconf"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners/inventory"
	"github.com/vigilsec/vigil/scanners/inventory/awssm"
	"github.com/vigilsec/vigil/scanners/inventory/files"
	"github.com/vigilsec/vigil/scanners/inventory/github"
	"github.com/vigilsec/vigil/scanners/inventory/vault"
	"github.com/vigilsec/vigil/scanners/leaks"
)

// buildInventory wires the inventory scanner and its stores from the config.
// Credentials come from the environment variables the config names, never
// from the config file itself.
func buildInventory(ctx context.Context, cfg *config.Config, h *secrethash.Hasher, st *store.Store, g *globals) (*inventory.Scanner, error) {
	inv := cfg.Inventory
	if inv == nil {
		return nil, nil
	}
	s, err := inventory.NewScanner(cfg, rules.DefaultControls(), leakHashes(st), g.log)
	if err != nil {
		return nil, err
	}
	var hv inventory.Hasher
	if inv.HashValues {
		hv = h
	}
	for _, v := range inv.Vault {
		c, err := vaultconf.Login(ctx, v)
		if err != nil {
			// A store we can't log in to is a failed source, not a failed run.
			s.Stores = append(s.Stores, failedStore{name: v.Name, covers: []string{"vault:"}, err: err})
			continue
		}
		s.Stores = append(s.Stores, vault.New(c, v.Name, v.Mounts, hv))
	}
	if inv.AWSSM != nil {
		regions := inv.AWSSM.Regions
		if len(regions) == 0 {
			regions = []string{cfg.AWS.Region}
		}
		for _, region := range regions {
			accts, err := awsconf.Accounts(ctx, cfg.AWS, region, "vigil-inventory")
			if err != nil {
				return nil, err
			}
			for _, a := range accts {
				s.Stores = append(s.Stores, awssm.New(sm.NewFromConfig(a.Config), fmt.Sprintf("awssm:%s/%s", a.Name, region), hv))
			}
		}
	}
	if len(inv.GitHub) > 0 {
		// Variable values are scanned with the same leak rules as the rest.
		eng, err := leaks.NewEngine(cfg.Rules.Gitleaks, "", h, rules.DefaultControls())
		if err != nil {
			return nil, err
		}
		for _, gs := range inv.GitHub {
			tokenEnv := gs.TokenEnv
			if tokenEnv == "" {
				tokenEnv = "GITHUB_TOKEN"
			}
			c, err := github.NewClient(os.Getenv(tokenEnv), gs.BaseURL, nil)
			if err != nil {
				return nil, err
			}
			s.Stores = append(s.Stores, github.New(c, gs.Org, eng, rules.DefaultControls()))
		}
	}
	if f := inv.Files; f != nil {
		s.Stores = append(s.Stores, &files.Store{Root: cfg.Dir, Env: f.Env, Kubernetes: f.Kubernetes, Pipelines: f.Pipelines,
			Hasher: hv, Controls: rules.DefaultControls()})
	}
	return s, nil
}

// failedStore stands for a store that could not even be opened, so that the
// run reports it like any other failing store.
type failedStore struct {
	name   string
	covers []string
	err    error
}

func (f failedStore) Name() string     { return f.name }
func (f failedStore) Covers() []string { return f.covers }
func (f failedStore) List(context.Context, func(inventory.Secret)) error {
	return f.err
}

// leakHashes reads the open leak findings' secret hashes from the store,
// after the leak scanner has stored this run's.
func leakHashes(st *store.Store) inventory.LeakHashes {
	return func(ctx context.Context) (map[string][]inventory.Leak, error) {
		fs, err := st.Findings(ctx, store.Filter{Status: []string{string(finding.StatusOpen)},
			Kind: finding.LeakKinds})
		if err != nil {
			return nil, err
		}
		out := map[string][]inventory.Leak{}
		for _, f := range fs {
			if h := f.Evidence.String(finding.EvSecretHash); h != "" {
				out[h] = append(out[h], inventory.Leak{FindingID: f.ID, Kind: f.Kind, Resource: f.Resource})
			}
		}
		return out, nil
	}
}
