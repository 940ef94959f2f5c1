package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/openbao/openbao/api/v2"

	"github.com/vigilsec/vigil/internal/awsconf"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/remediate"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/vaultconf"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners/synthetic"
)

// remediation is the engine and planner for a config. Changes are made with
// each account's remediation role (remediate_role_arn); the planner reads
// with the audit role.
type remediation struct {
	engine  *remediate.Engine
	planner *remediate.Planner
}

func buildRemediation(ctx context.Context, cfg *config.Config, st *store.Store, h *secrethash.Hasher, g *globals) (*remediation, error) {
	eng := &remediate.Engine{Store: st, Handlers: map[string]remediate.Handler{}, Log: g.log, LeaseTTL: cfg.LeaseTTL}
	pl := &remediate.Planner{Store: st, Engine: eng, VaultMounts: map[string][]string{}}
	if cfg.Rules.Inventory != "" {
		d, err := rules.LoadInventory(cfg.Rules.Inventory)
		if err != nil {
			return nil, err
		}
		pl.Declared = d
	}
	if cfg.Rules.Identities != "" {
		ids, err := rules.LoadIdentities(cfg.Rules.Identities)
		if err != nil {
			return nil, err
		}
		pl.Identities = ids
	}
	vals := &remediate.Values{Dir: cfg.Dir}
	if inv := cfg.Inventory; inv != nil && len(inv.Vault) > 0 {
		kv := &remediate.VaultKV{Clients: map[string]*api.Client{}, Hasher: h, Values: vals}
		for _, v := range inv.Vault {
			pl.VaultMounts[v.Name] = v.Mounts
			c, err := vaultconf.Login(ctx, v)
			if err != nil {
				// Its actions fail with "no Vault store"; the others go on.
				g.log.Error("vault store unavailable for remediation", "store", v.Name, "err", err)
				continue
			}
			kv.Clients[v.Name] = c
		}
		vals.VaultAddress = inv.Vault[0].Address
		eng.Handlers[remediate.KindRotateVault] = kv
	}
	if cfg.AWS == nil {
		return &remediation{engine: eng, planner: pl}, nil
	}
	base, err := awsconf.Load(ctx, cfg.AWS.Region, cfg.AWS.Endpoint)
	if err != nil {
		return nil, err
	}
	vals.AWS = &base
	accts, err := awsconf.RemediateAccounts(ctx, cfg.AWS, "")
	if err != nil {
		return nil, err
	}
	ih := &remediate.IAM{Accounts: map[string]remediate.IAMAccount{}, Hasher: h}
	if cfg.Remediate != nil {
		ih.Settle = cfg.Remediate.Settle
	}
	for _, a := range accts {
		ih.Accounts[a.Name] = remediate.IAMAccount{IAM: iam.NewFromConfig(a.Config), STS: sts.NewFromConfig(a.Config)}
	}
	syn, err := synthetic.New(ctx, cfg, st, rules.DefaultControls(), g.log)
	if err != nil {
		return nil, err
	}
	if syn != nil {
		ih.Probe = remediate.SyntheticProber(syn)
	}
	for _, k := range []string{remediate.KindNarrow, remediate.KindDeactivateKey, remediate.KindQuarantine} {
		eng.Handlers[k] = ih
	}
	if inv := cfg.Inventory; inv != nil && inv.AWSSM != nil {
		smh := &remediate.SecretsManager{Stores: map[string]remediate.SMStore{}, Hasher: h, Values: vals}
		regions := inv.AWSSM.Regions
		if len(regions) == 0 {
			regions = []string{cfg.AWS.Region}
		}
		for _, region := range regions {
			accts, err := awsconf.RemediateAccounts(ctx, cfg.AWS, region)
			if err != nil {
				return nil, err
			}
			for _, a := range accts {
				smh.Stores[fmt.Sprintf("awssm:%s/%s", a.Name, region)] = remediate.SMStore{Client: sm.NewFromConfig(a.Config), STS: sts.NewFromConfig(a.Config)}
			}
		}
		eng.Handlers[remediate.KindRotateAWSSM] = smh
	}
	readers, err := awsconf.Accounts(ctx, cfg.AWS, "", "vigil-remediate-plan")
	if err != nil {
		return nil, err
	}
	clients := map[string]*iam.Client{}
	for _, a := range readers {
		clients[a.Name] = iam.NewFromConfig(a.Config)
	}
	pl.Keys = remediate.AccessKeys(clients, h)
	return &remediation{engine: eng, planner: pl}, nil
}
