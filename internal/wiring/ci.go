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
	"github.com/vigilsec/vigil/stores/gitlab"
)

// ciNames remembers what the CI stores listed in this process's inventory,
// so the IAM scanner's long-lived-key check does not list them a second
// time: the paths of GitHub's secrets (names only: GitHub never returns a
// value), and the credentials GitLab's variables hold (keyed hashes).
type ciNames struct {
	mu     sync.Mutex
	listed bool
	creds  []iam.CICredential
}

// record wraps a GitHub or GitLab store so its listing is remembered.
func (c *ciNames) record(st stores.Store) stores.Store { return &recording{Store: st, names: c} }

type recording struct {
	stores.Store
	names *ciNames
}

func (r *recording) Unwrap() stores.Store { return r.Store }

func (r *recording) List(ctx context.Context, emit func(stores.Secret)) error {
	var got []iam.CICredential
	_, isGitHub := r.Store.(*github.Store)
	err := r.Store.List(ctx, func(s stores.Secret) {
		if isGitHub {
			got = append(got, iam.CICredential{Where: s.Path, Name: s.Path[strings.LastIndex(s.Path, "/")+1:]})
		}
		emit(s)
	})
	if g, ok := r.Store.(*gitlab.Store); ok {
		got = append(got, gitlabCredentials(g)...)
	}
	r.names.mu.Lock()
	r.names.listed = true
	r.names.creds = append(r.names.creds, got...)
	r.names.mu.Unlock()
	return err
}

// gitlabCredentials are the CI credentials a GitLab store's last listing
// saw, under its OIDC issuer.
func gitlabCredentials(g *gitlab.Store) []iam.CICredential {
	var out []iam.CICredential
	issuer := g.Issuer()
	for _, c := range g.Credentials() {
		out = append(out, iam.CICredential{Where: c.Where, Name: c.Name, Hash: c.Hash, Issuer: issuer})
	}
	return out
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
	e.ci.mu.Lock()
	listed, out := e.ci.listed, append([]iam.CICredential(nil), e.ci.creds...)
	e.ci.mu.Unlock()
	var errs []error
	if !listed {
		gs, err := e.GitHubStores(ctx)
		errs = append(errs, err)
		for _, g := range gs {
			errs = append(errs, g.List(ctx, func(s stores.Secret) {
				out = append(out, iam.CICredential{Where: s.Path, Name: s.Path[strings.LastIndex(s.Path, "/")+1:]})
			}))
		}
		// GitLab's variables are read for their credentials: the leak rules
		// run over them, their findings are the inventory's to report.
		d := &deps{e: e}
		opened, err := gitlab.Open(ctx, d)
		errs = append(errs, err)
		for _, st := range opened {
			if g, ok := st.(*gitlab.Store); ok {
				errs = append(errs, g.List(ctx, func(stores.Secret) {}))
				out = append(out, gitlabCredentials(g)...)
			}
		}
	}
	// GitHub's Actions variables: their credentials are known by the
	// plaintext_variable findings' hashes (GitLab's, by the listing above).
	fs, err := e.Store.Findings(ctx, store.Filter{Status: []string{string(finding.StatusOpen)}, Kind: []finding.Kind{finding.KindInvPlaintextVariable}})
	errs = append(errs, err)
	for _, f := range fs {
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
