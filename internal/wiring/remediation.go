package wiring

import (
	"context"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/vigilsec/vigil/internal/awsconf"
	"github.com/vigilsec/vigil/internal/remediate"
	"github.com/vigilsec/vigil/stores/awssm"
	"github.com/vigilsec/vigil/stores/azkv"
	"github.com/vigilsec/vigil/stores/doppler"
	"github.com/vigilsec/vigil/stores/gcpsm"
	kstore "github.com/vigilsec/vigil/stores/kubernetes"
	"github.com/vigilsec/vigil/stores/vault"
)

// Remediation builds the remediation engine and planner. Changes are made
// with each account's remediation role (remediate_role_arn); the planner
// reads with the audit role. Where clusters are configured
// (inventory.kubernetes), every rotation is carried to External Secrets
// Operator's copies of the secret and proven there.
func (e *Env) Remediation(ctx context.Context) (*remediate.Engine, *remediate.Planner, error) {
	eng, pl, err := e.remediation(ctx)
	if err != nil {
		return nil, nil, err
	}
	if inv := e.Config.Inventory; inv != nil && len(inv.Kubernetes) > 0 {
		syncer, err := kstore.NewSyncer(inv.Kubernetes, e.Hasher)
		if err != nil {
			return nil, nil, err
		}
		for _, kind := range []string{remediate.KindRotateVault, remediate.KindRotateAWSSM, remediate.KindRotateAzureKV, remediate.KindRotateGCPSM, remediate.KindRotateDoppler} {
			if h := eng.Handlers[kind]; h != nil {
				eng.Handlers[kind] = remediate.Synced{Handler: h, Copies: syncer}
			}
		}
	}
	return eng, pl, nil
}

func (e *Env) remediation(ctx context.Context) (*remediate.Engine, *remediate.Planner, error) {
	c := e.Config
	eng := &remediate.Engine{Store: e.Store, Handlers: map[string]remediate.Handler{}, Log: e.Log, LeaseTTL: c.LeaseTTL}
	pl := &remediate.Planner{Store: e.Store, Engine: eng, VaultMounts: map[string][]string{}}
	var err error
	if pl.Declared, err = e.Declared(); err != nil {
		return nil, nil, err
	}
	if pl.Identities, err = e.Identities(); err != nil {
		return nil, nil, err
	}
	vals := &remediate.Values{Dir: c.Dir}
	if inv := c.Inventory; inv != nil && len(inv.Vault) > 0 {
		kv := &remediate.VaultKV{Stores: map[string]*vault.KV{}, Hasher: e.Hasher, Values: vals}
		for _, v := range inv.Vault {
			pl.VaultMounts[v.Name] = v.Mounts
			client, err := e.Vault(ctx, v)
			if err != nil {
				// Its actions fail with "no Vault store"; the others go on.
				e.Log.Error("vault store unavailable for remediation", "store", v.Name, "err", err)
				continue
			}
			kv.Stores[v.Name] = vault.NewKV(client, v.Name)
		}
		vals.VaultAddress = inv.Vault[0].Address
		eng.Handlers[remediate.KindRotateVault] = kv
	}
	if inv := c.Inventory; inv != nil && len(inv.AzureKeyVault)+len(inv.GCPSecretManager) > 0 {
		// Key Vault and Secret Manager rotate the same way: versions with
		// an enabled flag.
		vh := &remediate.Versioned{Stores: map[string]remediate.Versions{}, Hasher: e.Hasher, Values: vals}
		for _, v := range inv.AzureKeyVault {
			client, err := azkv.NewClient(v.Name, v.VaultURL)
			if err != nil {
				e.Log.Error("key vault unavailable for remediation", "store", "azkv:"+v.Name, "err", err)
				continue
			}
			vh.Stores["azkv:"+v.Name] = azkv.Writer{Client: client}
		}
		for _, p := range inv.GCPSecretManager {
			client, err := gcpsm.NewClient(p.Project)
			if err != nil {
				e.Log.Error("secret manager unavailable for remediation", "store", "gcpsm:"+p.Project, "err", err)
				continue
			}
			vh.Stores["gcpsm:"+p.Project] = gcpsm.Writer{Client: client}
		}
		eng.Handlers[remediate.KindRotateAzureKV] = vh
		eng.Handlers[remediate.KindRotateGCPSM] = vh
	}
	if inv := c.Inventory; inv != nil && len(inv.Doppler) > 0 {
		dh := &remediate.DopplerSecrets{Stores: map[string]doppler.Writer{}, Hasher: e.Hasher, Values: vals}
		for _, w := range inv.Doppler {
			dh.Stores["doppler:"+w.Name] = doppler.Writer{API: doppler.NewClient(w.APIURL, os.Getenv(doppler.TokenEnv(w)))}
		}
		eng.Handlers[remediate.KindRotateDoppler] = dh
	}
	if c.AWS == nil {
		return eng, pl, nil
	}
	base, err := awsconf.Load(ctx, c.AWS.Region, c.AWS.Endpoint)
	if err != nil {
		return nil, nil, err
	}
	vals.AWS = &base
	accts, err := e.Accounts(ctx, ForRemediate, "")
	if err != nil {
		return nil, nil, err
	}
	ih := &remediate.IAM{Accounts: map[string]remediate.IAMAccount{}, Hasher: e.Hasher}
	if c.Remediate != nil {
		ih.Settle = c.Remediate.Settle
	}
	for _, a := range accts {
		ih.Accounts[a.Name] = remediate.IAMAccount{IAM: iam.NewFromConfig(a.Config), STS: sts.NewFromConfig(a.Config)}
	}
	syn, err := e.Synthetic(ctx)
	if err != nil {
		return nil, nil, err
	}
	if syn != nil {
		ih.Probe = remediate.SyntheticProber(syn)
	}
	for _, k := range []string{remediate.KindNarrow, remediate.KindNarrowTrust, remediate.KindDeactivateKey, remediate.KindQuarantine} {
		eng.Handlers[k] = ih
	}
	if inv := c.Inventory; inv != nil && inv.AWSSM != nil {
		smh := &remediate.SecretsManager{Stores: map[string]*awssm.Writer{}, Hasher: e.Hasher, Values: vals}
		for _, region := range awssm.Regions(inv.AWSSM.Regions, c.AWS.Region) {
			accts, err := e.Accounts(ctx, ForRemediate, region)
			if err != nil {
				return nil, nil, err
			}
			for _, a := range accts {
				name := awssm.Name(a.Name, region)
				smh.Stores[name] = awssm.NewWriter(sm.NewFromConfig(a.Config), sts.NewFromConfig(a.Config), name)
			}
		}
		eng.Handlers[remediate.KindRotateAWSSM] = smh
	}
	readers, err := e.Accounts(ctx, ForPlan, "")
	if err != nil {
		return nil, nil, err
	}
	clients := map[string]*iam.Client{}
	for _, a := range readers {
		clients[a.Name] = iam.NewFromConfig(a.Config)
	}
	pl.Keys = remediate.AccessKeys(clients, e.Hasher)
	return eng, pl, nil
}
