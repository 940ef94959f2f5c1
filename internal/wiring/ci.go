package wiring

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/scanners/iam"
	"github.com/vigilsec/vigil/stores"
	"github.com/vigilsec/vigil/stores/github"
)

// ciNames remembers the paths of the secrets the GitHub stores listed in
// this process's inventory, so the IAM scanner's long-lived-key check does
// not list GitHub a second time. Names only: the stores never see values.
type ciNames struct {
	mu     sync.Mutex
	listed bool
	paths  []string
}

// recordNames wraps a GitHub store so its listing is remembered.
func (c *ciNames) recordNames(st stores.Store) stores.Store { return &recording{Store: st, names: c} }

type recording struct {
	stores.Store
	names *ciNames
}

func (r *recording) Unwrap() stores.Store { return r.Store }

func (r *recording) List(ctx context.Context, emit func(stores.Secret)) error {
	var got []string
	err := r.Store.List(ctx, func(s stores.Secret) {
		got = append(got, s.Path)
		emit(s)
	})
	r.names.mu.Lock()
	r.names.listed = true
	r.names.paths = append(r.names.paths, got...)
	r.names.mu.Unlock()
	return err
}

// GitHubStores opens the inventory.github organisations for what the IAM
// scanner asks of GitHub itself (subject templates, names when the
// inventory did not run).
func (e *Env) GitHubStores(ctx context.Context) ([]*github.Store, error) {
	opened, err := github.Open(ctx, &deps{e: e, noDetector: true})
	var out []*github.Store
	for _, st := range opened {
		if g, ok := stores.Unwrap(st).(*github.Store); ok {
			out = append(out, g)
		}
	}
	return out, err
}

// ciCredentials is what CI systems hold, for iam.long_lived_key_in_ci: the
// names of the GitHub secrets (listed by this run's inventory, or now), and
// the keyed hashes of credentials found in Actions variables (the open
// inventory.plaintext_variable findings).
func (e *Env) ciCredentials(ctx context.Context) ([]iam.CICredential, error) {
	var out []iam.CICredential
	e.ci.mu.Lock()
	listed, paths := e.ci.listed, append([]string(nil), e.ci.paths...)
	e.ci.mu.Unlock()
	var errs []error
	if !listed {
		gs, err := e.GitHubStores(ctx)
		errs = append(errs, err)
		for _, g := range gs {
			errs = append(errs, g.List(ctx, func(s stores.Secret) { paths = append(paths, s.Path) }))
		}
	}
	for _, p := range paths {
		out = append(out, iam.CICredential{Where: p, Name: p[strings.LastIndex(p, "/")+1:]})
	}
	fs, err := e.Store.Findings(ctx, store.Filter{Status: []string{string(finding.StatusOpen)}, Kind: []finding.Kind{finding.KindInvPlaintextVariable}})
	errs = append(errs, err)
	for _, f := range fs {
		// GitLab's variables report the same kind; the long-lived-key check
		// and its advice are about GitHub Actions and its OIDC issuer.
		if !strings.HasPrefix(f.Resource, "github:") {
			continue
		}
		if h := f.Evidence.String(finding.EvSecretHash); h != "" {
			out = append(out, iam.CICredential{Where: f.Resource, Name: f.Resource[strings.LastIndex(f.Resource, "/")+1:], Hash: h})
		}
	}
	return out, errors.Join(errs...)
}

// subjectTemplates reads each GitHub organisation's OIDC subject template.
func (e *Env) subjectTemplates(ctx context.Context) (map[string][]string, error) {
	gs, err := e.GitHubStores(ctx)
	errs := []error{err}
	out := map[string][]string{}
	for _, g := range gs {
		org, keys, err := g.SubjectTemplate(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[strings.ToLower(org)] = keys
	}
	return out, errors.Join(errs...)
}
