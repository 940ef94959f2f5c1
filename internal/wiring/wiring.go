// Package wiring is the one place that turns a vigil.yaml into what a
// command runs: scanners in their order, secret-store clients, AWS accounts
// by purpose, Vault logins, remediation handlers. Rules and declarations are
// loaded once, each Vault store is logged in to once and each account set is
// assumed once per command, however many scanners need them. Scanners and
// remediation receive typed values, never the configuration.
package wiring

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/openbao/openbao/api/v2"

	"github.com/vigilsec/vigil/internal/awsconf"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/vaultconf"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners"
	"github.com/vigilsec/vigil/scanners/leaks"
)

// Order is every scanner this build has, in the order a run runs them:
// github (every repository of an organisation) beside leaks, both before
// inventory (it matches this run's leaks with store values),
// rbac (Kubernetes RBAC drift) beside iam, synthetic last (it mints and
// revokes credentials, and the drift found before it explains what its
// probes find).
var Order = []string{"leaks", "github", "inventory", "iam", "rbac", "synthetic"}

// Env is a loaded configuration with what it opens, for one command.
type Env struct {
	Config   *config.Config
	Store    *store.Store
	Hasher   *secrethash.Hasher
	Controls rules.Controls
	Log      *slog.Logger
	Progress scanners.Progress

	mu         sync.Mutex
	identities *loaded[[]rules.Identity]
	declared   *loaded[[]rules.Declared]
	engine     *loaded[*leaks.Engine]
	vault      map[string]*loaded[*api.Client]
	accounts   map[string]*loaded[[]awsconf.Account]
	ci         ciNames
}

// loaded is a value computed once, with the error computing it gave.
type loaded[T any] struct {
	v   T
	err error
}

// New returns the environment of cfg; st and h are the opened store and key.
func New(cfg *config.Config, st *store.Store, h *secrethash.Hasher, log *slog.Logger, progress scanners.Progress) *Env {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if progress == nil {
		progress = scanners.Nop{}
	}
	return &Env{Config: cfg, Store: st, Hasher: h, Controls: rules.DefaultControls(), Log: log, Progress: progress,
		vault: map[string]*loaded[*api.Client]{}, accounts: map[string]*loaded[[]awsconf.Account]{}}
}

func once[T any](mu *sync.Mutex, slot **loaded[T], load func() (T, error)) (T, error) {
	mu.Lock()
	defer mu.Unlock()
	if *slot == nil {
		v, err := load()
		*slot = &loaded[T]{v, err}
	}
	return (*slot).v, (*slot).err
}

// Identities returns the declared identities (rules.identities), loaded once.
func (e *Env) Identities() ([]rules.Identity, error) {
	return once(&e.mu, &e.identities, func() ([]rules.Identity, error) {
		if e.Config.Rules.Identities == "" {
			return nil, nil
		}
		return rules.LoadIdentities(e.Config.Rules.Identities)
	})
}

// Declared returns the declared inventory (rules.inventory), loaded once.
func (e *Env) Declared() ([]rules.Declared, error) {
	return once(&e.mu, &e.declared, func() ([]rules.Declared, error) {
		if e.Config.Rules.Inventory == "" {
			return nil, nil
		}
		return rules.LoadInventory(e.Config.Rules.Inventory)
	})
}

// Vault returns the client of an inventory.vault store, logged in once. A
// store vigil can't log in to returns its error every time it is asked for.
func (e *Env) Vault(ctx context.Context, v config.VaultStore) (*api.Client, error) {
	e.mu.Lock()
	slot := e.vault[v.Name]
	if slot == nil {
		c, err := vaultconf.Login(ctx, v)
		slot = &loaded[*api.Client]{c, err}
		e.vault[v.Name] = slot
	}
	e.mu.Unlock()
	return slot.v, slot.err
}

// scanner puts what a builder made into the interface; a builder returns a
// nil pointer when the config gives it nothing to do, which must stay nil.
func scanner[T any, P interface {
	*T
	scanners.Scanner
}](p P, err error) (scanners.Scanner, error) {
	if p == nil {
		return nil, err
	}
	return p, err
}

// Purpose says what AWS credentials are for: it picks the role (the audit
// role_arn, or remediate_role_arn for changes) and names the session, which
// is what CloudTrail shows.
type Purpose string

// Purposes.
const (
	ForDrift     Purpose = "vigil-iam-drift"      // read the IAM graph
	ForInventory Purpose = "vigil-inventory"      // list Secrets Manager
	ForSynthetic Purpose = "vigil-synthetic"      // mint probe credentials
	ForPlan      Purpose = "vigil-remediate-plan" // read keys to plan remediation
	ForRemediate Purpose = "vigil-remediate"      // change things (remediate_role_arn)
)

// Accounts returns the aws: accounts for purpose in region ("" for the
// config's region), assumed once per command.
func (e *Env) Accounts(ctx context.Context, p Purpose, region string) ([]awsconf.Account, error) {
	if e.Config.AWS == nil {
		return nil, fmt.Errorf("%s: no aws: section", e.Config.File)
	}
	key := string(p) + "\x00" + region
	e.mu.Lock()
	defer e.mu.Unlock()
	slot := e.accounts[key]
	if slot == nil {
		accts, err := accounts(ctx, e.Config.AWS, region, p)
		slot = &loaded[[]awsconf.Account]{accts, err}
		e.accounts[key] = slot
	}
	return slot.v, slot.err
}

// Scanners builds the wanted scanners (all of Order when want is empty)
// that the config gives sources to, in Order. A scanner asked for alone
// (--only) without any configuration is an error naming the missing section.
func (e *Env) Scanners(ctx context.Context, want map[string]bool) ([]scanners.Scanner, error) {
	var out []scanners.Scanner
	for _, name := range Order {
		if len(want) > 0 && !want[name] {
			continue
		}
		var (
			sc      scanners.Scanner
			err     error
			missing string
		)
		switch name {
		case "leaks":
			sc, err = scanner(e.Leaks())
		case "github":
			sc, err = scanner(e.GitHubOrgs())
			missing = "the github scanner needs a sources.github: section"
		case "inventory":
			sc, err = scanner(e.Inventory(ctx))
			missing = "the inventory scanner needs an inventory: section"
		case "iam":
			sc, err = scanner(e.IAM(ctx))
			missing = "the iam scanner needs an aws: section"
		case "rbac":
			sc, err = scanner(e.RBAC())
			missing = "the rbac scanner needs declared kubernetes identities with rbac (rules: identities)"
		case "synthetic":
			sc, err = scanner(e.Synthetic(ctx))
			missing = "the synthetic scanner needs declared identities with probes (rules: identities)"
		}
		if err != nil {
			return nil, err
		}
		if sc == nil {
			if len(want) == 1 {
				return nil, fmt.Errorf("%s: %s", e.Config.File, missing)
			}
			continue
		}
		out = append(out, sc)
	}
	return out, nil
}

// accounts returns the aws: section's accounts in region (the section's
// region when ""), or the default credentials' account when none is listed.
// Changes (ForRemediate) act as each account's remediate_role_arn, else its
// role_arn: the nightly role stays read-only.
func accounts(ctx context.Context, a *config.AWS, region string, p Purpose) ([]awsconf.Account, error) {
	if region == "" {
		region = a.Region
	}
	base, err := awsconf.Load(ctx, region, a.Endpoint)
	if err != nil {
		return nil, err
	}
	if len(a.Accounts) == 0 {
		return []awsconf.Account{{Name: "default", Config: base}}, nil
	}
	var out []awsconf.Account
	for _, acct := range a.Accounts {
		c := base
		role := acct.RoleARN
		if p == ForRemediate && acct.RemediateRoleARN != "" {
			role = acct.RemediateRoleARN
		}
		if role != "" {
			c = awsconf.AssumeRole(base, role, acct.ExternalID, string(p))
		}
		out = append(out, awsconf.Account{Name: acct.Name, Config: c})
	}
	return out, nil
}
