package wiring

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/openbao/openbao/api/v2"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/vigilsec/vigil/internal/awsconf"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/ledger"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners/githuborg"
	"github.com/vigilsec/vigil/scanners/iam"
	"github.com/vigilsec/vigil/scanners/inventory"
	"github.com/vigilsec/vigil/scanners/leaks"
	"github.com/vigilsec/vigil/scanners/rbac"
	"github.com/vigilsec/vigil/scanners/synthetic"
	"github.com/vigilsec/vigil/stores"
	"github.com/vigilsec/vigil/stores/all"
	"github.com/vigilsec/vigil/stores/awssm"
	kstore "github.com/vigilsec/vigil/stores/kubernetes"
)

// LeakEngine loads the gitleaks rules (and checks the ignore file) once per
// command, for every scanner and store that detects leaks (the engine is
// not changed after it is made): a bad rule file fails the command up
// front, with its file and line.
func (e *Env) LeakEngine() (*leaks.Engine, error) {
	return once(&e.mu, &e.engine, func() (*leaks.Engine, error) {
		return leaks.NewEngine(e.Config.Rules.Gitleaks, e.Config.Rules.GitleaksIgnore, e.Hasher, e.Controls)
	})
}

// leakScanner is a leaks scanner with no sources yet, on the engine.
func (e *Env) leakScanner() (*leaks.Scanner, error) {
	eng, err := e.LeakEngine()
	if err != nil {
		return nil, err
	}
	c := e.Config
	return leaks.New(eng, leaks.Options{ExplicitRules: c.Rules.Gitleaks != "", CacheDir: c.CacheDir, Progress: e.Progress, Log: e.Log}), nil
}

// Leaks builds the leaks scanner over the config's sources (it always runs:
// with no sources it scans nothing).
func (e *Env) Leaks() (*leaks.Scanner, error) {
	s, err := e.leakScanner()
	if err != nil {
		return nil, err
	}
	c := e.Config
	for _, g := range c.Sources.Git {
		s.Git = append(s.Git, leaks.GitTarget{Name: g.Name, Path: g.Path, URL: g.URL})
	}
	for _, d := range c.Sources.Dirs {
		s.Dirs = append(s.Dirs, leaks.DirTarget{Name: d.Name, Path: d.Path})
	}
	for _, l := range c.Sources.Logs {
		s.Logs = append(s.Logs, leaks.LogTarget{Name: l.Name, Paths: l.Paths, FollowSymlinks: l.FollowSymlinks})
	}
	return s, nil
}

// GitHubOrgs builds the organisation scanner over sources.github, or nil
// without one. Each organisation's credential is read from the variable
// its token_env names (or minted from its App key) and reaches git only
// through a credential helper, never a URL or an argument.
func (e *Env) GitHubOrgs() (*githuborg.Scanner, error) {
	c := e.Config
	if len(c.Sources.GitHub) == 0 {
		return nil, nil
	}
	ls, err := e.leakScanner() // the organisation's repositories are its only targets
	if err != nil {
		return nil, err
	}
	s := &githuborg.Scanner{Leaks: ls, Controls: e.Controls, Log: e.Log, Located: Located(e.Store)}
	for _, o := range c.Sources.GitHub {
		org, err := GitHubOrg(o)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: sources.github %s: %w", c.File, o.Line, o.Org, err)
		}
		s.Orgs = append(s.Orgs, org)
	}
	return s, nil
}

// Located answers the organisation scanner's question for its alerts:
// where the open leak findings of an organisation's repositories are.
func Located(st *store.Store) githuborg.Located {
	return func(ctx context.Context, org string) (map[string]string, error) {
		prefix := "git:" + githuborg.SourcePrefix(org)
		fs, err := st.Findings(ctx, store.Filter{Status: []string{string(finding.StatusOpen)}, Kind: []finding.Kind{finding.KindLeakGit}, SourcePrefix: prefix})
		if err != nil {
			return nil, err
		}
		out := map[string]string{}
		for _, f := range fs {
			id, err := strconv.ParseInt(strings.TrimPrefix(f.Source, prefix), 10, 64)
			if err != nil || f.Location == nil {
				continue
			}
			out[githuborg.LocationKey(id, f.Location.Commit, f.Location.Path, f.Location.Line)] = f.ID
		}
		return out, nil
	}
}

// GitHubOrg is one sources.github entry as the scanner takes it.
func GitHubOrg(o config.GitHubOrg) (githuborg.Org, error) {
	auth := githuborg.Auth{Token: os.Getenv(o.TokenEnv)}
	if o.App != nil {
		auth = githuborg.Auth{App: &githuborg.App{AppID: o.App.AppID, InstallationID: o.App.InstallationID, PrivateKeyFile: o.App.PrivateKeyFile}}
	}
	client, err := githuborg.NewClient(o.APIURL, auth, o.MaxRequests, o.RateLimitWait, nil)
	if err != nil {
		return githuborg.Org{}, err
	}
	return githuborg.Org{
		Name:   o.Org,
		Client: client,
		Filter: githuborg.Filter{Include: o.Include, Exclude: o.Exclude, Forks: config.Flag(o.Forks, false),
			Archived: config.Flag(o.Archived, true), Visibility: o.Visibility},
		Alerts:  config.Flag(o.Alerts, true),
		Workers: o.Workers,
	}, nil
}

// Inventory builds the inventory scanner and its stores, or nil without an
// inventory: section. Credentials come from the environment variables the
// config names, never from the file.
func (e *Env) Inventory(ctx context.Context) (*inventory.Scanner, error) {
	inv := e.Config.Inventory
	if inv == nil {
		return nil, nil
	}
	declared, err := e.Declared()
	if err != nil {
		return nil, err
	}
	ids, err := e.Identities()
	if err != nil {
		return nil, err
	}
	envs := map[string]string{}
	for _, id := range ids {
		envs[id.Name] = id.Env
	}
	c := &inventory.Comparer{Declared: declared, IdentityEnv: envs, Controls: e.Controls,
		DefaultRotationDays: inv.RotationDays, DefaultUnusedDays: inv.UnusedDays}
	if c.DefaultRotationDays == 0 {
		c.DefaultRotationDays = rules.DefaultRotationDays
	}
	if c.DefaultUnusedDays == 0 {
		c.DefaultUnusedDays = rules.DefaultUnusedDays
	}
	s := &inventory.Scanner{Comparer: c, Log: e.Log, Progress: e.Progress}
	d := &deps{e: e}
	if inv.HashValues {
		d.hasher = e.Hasher
		s.Leaks = leakHashes(e.Store)
	}
	for _, k := range all.Kinds {
		opened, err := k.Open(ctx, d)
		if err != nil {
			return nil, fmt.Errorf("inventory.%s: %w", k.Name, err)
		}
		for _, st := range opened {
			if k.Name == "github" || k.Name == "gitlab" {
				st = e.ci.record(st)
			}
			// A listing that fails on a transient error after the client's
			// own retries is listed again, as a whole.
			s.Stores = append(s.Stores, stores.Retrying(st, listAttempts, listBackoff))
		}
	}
	return s, nil
}

// A store's listing is tried this many times, the first wait this long.
const (
	listAttempts = 3
	listBackoff  = 2 * time.Second
)

// deps is what a store's Opener asks of the environment.
type deps struct {
	e      *Env
	hasher stores.Hasher // nil unless inventory.hash_values
	// noDetector: the store is opened for its client only (no rules
	// compiled, no variable scanned).
	noDetector bool
}

func (d *deps) Config() *config.Config   { return d.e.Config }
func (d *deps) Hasher() stores.Hasher    { return d.hasher }
func (d *deps) Controls() rules.Controls { return d.e.Controls }
func (d *deps) GitDir(name string) (string, error) {
	for _, g := range d.e.Config.Sources.Git {
		if g.Name != name {
			continue
		}
		if g.Path != "" {
			return g.Path, nil
		}
		return leaks.MirrorPath(d.e.Config.CacheDir, g.Name), nil
	}
	return "", fmt.Errorf("no sources.git repository is named %q", name)
}
func (d *deps) Vault(ctx context.Context, v config.VaultStore) (*api.Client, error) {
	return d.e.Vault(ctx, v)
}
func (d *deps) AWSAccounts(ctx context.Context, region string) ([]awsconf.Account, error) {
	return d.e.Accounts(ctx, ForInventory, region)
}
func (d *deps) Detector() (stores.TextDetector, error) {
	if d.noDetector {
		return nil, nil
	}
	return d.e.LeakEngine()
}

// leakHashes reads the open leak findings' secret hashes from the store,
// after the leak scanner has stored this run's.
func leakHashes(st *store.Store) inventory.LeakHashes {
	return func(ctx context.Context) (map[string][]inventory.Leak, error) {
		fs, err := st.Findings(ctx, store.Filter{Status: []string{string(finding.StatusOpen)}, Kind: finding.LeakKinds})
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

// IAM builds the drift scanner, or nil without an aws: section.
func (e *Env) IAM(ctx context.Context) (*iam.Scanner, error) {
	if e.Config.AWS == nil {
		return nil, nil
	}
	ids, err := e.Identities()
	if err != nil {
		return nil, err
	}
	accts, err := e.Accounts(ctx, ForDrift, "")
	if err != nil {
		return nil, err
	}
	a := e.Config.AWS
	an := &iam.Analyzer{Identities: ids, Controls: e.Controls, Ignore: a.IgnorePrincipals, Known: a.KnownAccounts,
		HashKeyID: e.Hasher.Hash, Consumers: map[string][]string{}}
	declared, err := e.Declared()
	if err != nil {
		return nil, err
	}
	for _, d := range declared {
		an.Consumers[d.Path] = d.Consumers
	}
	s := &iam.Scanner{Accounts: accts, Analyzer: an, Log: e.Log, Progress: e.Progress}
	// Secrets' resource policies are read where the inventory lists
	// Secrets Manager: an installation that does not use it is not made
	// partial every night for lack of secretsmanager permissions.
	if inv := e.Config.Inventory; inv != nil && inv.AWSSM != nil {
		s.SecretRegions = awssm.Regions(inv.AWSSM.Regions, a.Region)
	}
	for i := range accts {
		if accts[i].Name == a.Organization {
			s.Org = &accts[i]
		}
	}
	if inv := e.Config.Inventory; inv != nil && len(inv.GitHub) > 0 {
		s.CI, s.Templates = e.ciCredentials, e.subjectTemplates
	}
	if inv := e.Config.Inventory; inv != nil && len(inv.GitLab) > 0 {
		s.CI = e.ciCredentials
	}
	return s, nil
}

// Synthetic builds the synthetic scanner, or nil when no declared identity
// has probes and the ledger has nothing left to revoke. Probes are checked
// here, so a bad one fails the command up front with its file and line.
func (e *Env) Synthetic(ctx context.Context) (*synthetic.Scanner, error) {
	all, err := e.Identities()
	if err != nil {
		return nil, err
	}
	var ids []rules.Identity
	for _, id := range all {
		if id.Probes != nil {
			ids = append(ids, id)
		}
	}
	open, err := e.Store.Credentials(ctx, ledger.Filter{Open: true})
	if err != nil {
		return nil, fmt.Errorf("read the credential ledger: %w", err)
	}
	if len(ids) == 0 && len(open) == 0 {
		return nil, nil
	}
	c := e.Config
	var vaultNames, clusters []string
	if c.Inventory != nil {
		for _, v := range c.Inventory.Vault {
			vaultNames = append(vaultNames, v.Name)
		}
		for _, k := range c.Inventory.Kubernetes {
			clusters = append(clusters, k.Name)
		}
	}
	var errs []error
	for i := range ids {
		errs = append(errs, synthetic.Validate(&ids[i], vaultNames, clusters, c.AWS != nil)...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s := &synthetic.Scanner{Identities: ids, Issuers: map[string]synthetic.Issuer{}, Ledger: e.Store, Controls: e.Controls, Log: e.Log, Progress: e.Progress}
	if sc := c.Synthetic; sc != nil {
		s.Margin, s.RevokeWait, s.Workers = sc.Margin, sc.RevokeWait, sc.Workers
	}
	if c.AWS != nil {
		accts, err := e.Accounts(ctx, ForSynthetic, "")
		if err != nil {
			return nil, err
		}
		srcID := "vigil"
		if c.Synthetic != nil && c.Synthetic.SourceIdentity != "" {
			srcID = c.Synthetic.SourceIdentity
		}
		for _, a := range accts {
			iss := &synthetic.AWSIssuer{Account: a.Name, Config: a.Config, SourceIdentity: srcID}
			s.Issuers[iss.Key()] = iss
		}
	}
	if c.Inventory != nil {
		for _, v := range c.Inventory.Vault {
			key := "vault:" + v.Name
			client, err := e.Vault(ctx, v)
			if err != nil {
				// Its identities fail; the others are checked.
				s.Issuers[key] = synthetic.FailedIssuer(key, err)
				continue
			}
			s.Issuers[key] = &synthetic.VaultIssuer{Store: v.Name, Client: client}
		}
		for _, k := range c.Inventory.Kubernetes {
			key := "kubernetes:" + k.Name
			rc, client, err := kubeClient(k)
			if err != nil {
				s.Issuers[key] = synthetic.FailedIssuer(key, err)
				continue
			}
			s.Issuers[key] = &synthetic.KubernetesIssuer{Cluster: k.Name, Config: rc, Client: client}
		}
	}
	return s, nil
}

// RBAC builds the Kubernetes RBAC drift scanner, or nil when no declared
// kubernetes identity declares rbac.
func (e *Env) RBAC() (*rbac.Scanner, error) {
	ids, err := e.Identities()
	if err != nil {
		return nil, err
	}
	s := &rbac.Scanner{Clusters: map[string]kubernetes.Interface{}, Failed: map[string]error{}, Controls: e.Controls}
	for _, id := range ids {
		if id.Kind == rules.KindKubernetes && id.RBAC != nil {
			s.Identities = append(s.Identities, id)
		}
	}
	if len(s.Identities) == 0 {
		return nil, nil
	}
	if inv := e.Config.Inventory; inv != nil {
		for _, k := range inv.Kubernetes {
			if _, c, err := kubeClient(k); err != nil {
				s.Failed[k.Name] = err
			} else {
				s.Clusters[k.Name] = c
			}
		}
	}
	return s, nil
}

// kubeClient is the client of one inventory.kubernetes cluster.
func kubeClient(k config.KubernetesCluster) (*rest.Config, *kubernetes.Clientset, error) {
	rc, err := kstore.RESTConfig(k)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes:%s: %w", k.Name, err)
	}
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes:%s: %w", k.Name, err)
	}
	return rc, c, nil
}
