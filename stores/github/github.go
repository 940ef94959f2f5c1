// Package github inventories an organisation's GitHub secrets (Actions,
// Dependabot and Codespaces; organisation, repository and environment
// level: names and dates, the API never returns values) and its Actions
// variables, whose values are plaintext by design and are scanned with the
// leak rules: a credential in a variable is inventory.plaintext_variable.
package github

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/gofri/go-github-ratelimit/v2/github_ratelimit"
	gh "github.com/google/go-github/v60/github"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/stores"
)

// Detector finds credentials in a value (the leak engine).
type Detector = stores.TextDetector

// Store is one GitHub organisation.
type Store struct {
	client   *gh.Client
	org      string
	detector Detector
	controls rules.Controls
	reported []finding.Finding
	// listed are the repositories the last List read completely.
	listed []string
	// Calls counts API requests.
	Calls atomic.Int64
}

// NewClient returns a go-github client behind a rate-limit transport (which
// waits out primary and secondary limits, including 429s that go-github v60
// does not recognise), for github.com or, with baseURL, GitHub Enterprise
// Server.
func NewClient(token, baseURL string, base http.RoundTripper) (*gh.Client, error) {
	hc := github_ratelimit.NewClient(base)
	c := gh.NewClient(hc)
	if token != "" {
		c = c.WithAuthToken(token)
	}
	if baseURL != "" {
		var err error
		// WithEnterpriseURLs adds the /api/v3/ suffix and the trailing slash
		// go-github requires.
		if c, err = c.WithEnterpriseURLs(baseURL, baseURL); err != nil {
			return nil, fmt.Errorf("github base_url %s: %w", baseURL, err)
		}
	}
	return c, nil
}

// New returns the store for org.
func New(client *gh.Client, org string, d Detector, controls rules.Controls) *Store {
	return &Store{client: client, org: org, detector: d, controls: controls}
}

// Name implements stores.Store.
func (s *Store) Name() string { return "github:" + s.org }

// Covers implements stores.Store: the organisation's own secrets, and those
// of each repository the last List read completely (repositories are
// named by their owner, which need not be the organisation's name).
func (s *Store) Covers() []string {
	out := []string{"github:org/" + s.org + "/"}
	for _, r := range s.listed {
		out = append(out, "github:repo/"+r+"/")
	}
	return out
}

// Reported returns the plaintext_variable findings of the last List.
func (s *Store) Reported() []finding.Finding { return s.reported }

// pages calls list for every page.
func pages(ctx context.Context, calls *atomic.Int64, list func(opt *gh.ListOptions) (*gh.Response, error)) error {
	opt := &gh.ListOptions{PerPage: 100}
	for {
		calls.Add(1)
		resp, err := list(opt)
		if err != nil {
			return err
		}
		if resp == nil || resp.NextPage == 0 {
			return nil
		}
		opt.Page = resp.NextPage
	}
}

func (s *Store) secrets(emit func(stores.Secret), prefix string, list []*gh.Secret) {
	for _, sec := range list {
		x := stores.Secret{Path: prefix + sec.Name, Store: s.Name(), Created: sec.CreatedAt.Time, Updated: sec.UpdatedAt.Time,
			LastRotated: sec.UpdatedAt.Time}
		if sec.Visibility != "" {
			x.Where = "visibility " + sec.Visibility
		}
		emit(x)
	}
}

// List implements stores.Store.
func (s *Store) List(ctx context.Context, emit func(stores.Secret)) error {
	s.reported, s.listed = nil, nil
	org := s.org
	type lister = func(*gh.ListOptions) (*gh.Secrets, *gh.Response, error)
	secretPages := func(prefix string, f lister) error {
		return pages(ctx, &s.Calls, func(opt *gh.ListOptions) (*gh.Response, error) {
			out, resp, err := f(opt)
			if err == nil {
				s.secrets(emit, prefix, out.Secrets)
			}
			return resp, err
		})
	}
	varPages := func(prefix string, f func(*gh.ListOptions) (*gh.ActionsVariables, *gh.Response, error)) error {
		return pages(ctx, &s.Calls, func(opt *gh.ListOptions) (*gh.Response, error) {
			out, resp, err := f(opt)
			if err == nil {
				for _, v := range out.Variables {
					s.variable(ctx, prefix+v.Name, v.Value)
				}
			}
			return resp, err
		})
	}
	base := "github:org/" + org + "/"
	steps := []struct {
		what string
		run  func() error
	}{
		{"org actions secrets", func() error {
			return secretPages(base+"actions/", func(o *gh.ListOptions) (*gh.Secrets, *gh.Response, error) {
				return s.client.Actions.ListOrgSecrets(ctx, org, o)
			})
		}},
		{"org dependabot secrets", func() error {
			return secretPages(base+"dependabot/", func(o *gh.ListOptions) (*gh.Secrets, *gh.Response, error) {
				return s.client.Dependabot.ListOrgSecrets(ctx, org, o)
			})
		}},
		{"org codespaces secrets", func() error {
			return secretPages(base+"codespaces/", func(o *gh.ListOptions) (*gh.Secrets, *gh.Response, error) {
				return s.client.Codespaces.ListOrgSecrets(ctx, org, o)
			})
		}},
		{"org actions variables", func() error {
			return varPages(base+"actions/variables/", func(o *gh.ListOptions) (*gh.ActionsVariables, *gh.Response, error) {
				return s.client.Actions.ListOrgVariables(ctx, org, o)
			})
		}},
	}
	for _, st := range steps {
		if err := st.run(); err != nil {
			return fmt.Errorf("%s: %s: %w", s.Name(), st.what, err)
		}
	}
	var repos []*gh.Repository
	if err := pages(ctx, &s.Calls, func(opt *gh.ListOptions) (*gh.Response, error) {
		out, resp, err := s.client.Repositories.ListByOrg(ctx, org, &gh.RepositoryListByOrgOptions{ListOptions: *opt})
		repos = append(repos, out...)
		return resp, err
	}); err != nil {
		return fmt.Errorf("%s: list repositories: %w", s.Name(), err)
	}
	for _, r := range repos {
		if err := s.repo(ctx, r, secretPages, varPages); err != nil {
			return fmt.Errorf("%s: repository %s: %w", s.Name(), r.GetFullName(), err)
		}
		s.listed = append(s.listed, r.GetOwner().GetLogin()+"/"+r.GetName())
	}
	return nil
}

func (s *Store) repo(ctx context.Context, r *gh.Repository,
	secretPages func(string, func(*gh.ListOptions) (*gh.Secrets, *gh.Response, error)) error,
	varPages func(string, func(*gh.ListOptions) (*gh.ActionsVariables, *gh.Response, error)) error) error {
	owner, name := r.GetOwner().GetLogin(), r.GetName()
	base := "github:repo/" + owner + "/" + name + "/"
	if err := secretPages(base+"actions/", func(o *gh.ListOptions) (*gh.Secrets, *gh.Response, error) {
		return s.client.Actions.ListRepoSecrets(ctx, owner, name, o)
	}); err != nil {
		return fmt.Errorf("actions secrets: %w", err)
	}
	if err := secretPages(base+"dependabot/", func(o *gh.ListOptions) (*gh.Secrets, *gh.Response, error) {
		return s.client.Dependabot.ListRepoSecrets(ctx, owner, name, o)
	}); err != nil {
		return fmt.Errorf("dependabot secrets: %w", err)
	}
	if err := secretPages(base+"codespaces/", func(o *gh.ListOptions) (*gh.Secrets, *gh.Response, error) {
		return s.client.Codespaces.ListRepoSecrets(ctx, owner, name, o)
	}); err != nil {
		return fmt.Errorf("codespaces secrets: %w", err)
	}
	if err := varPages(base+"actions/variables/", func(o *gh.ListOptions) (*gh.ActionsVariables, *gh.Response, error) {
		return s.client.Actions.ListRepoVariables(ctx, owner, name, o)
	}); err != nil {
		return fmt.Errorf("actions variables: %w", err)
	}
	var envs []*gh.Environment
	if err := pages(ctx, &s.Calls, func(opt *gh.ListOptions) (*gh.Response, error) {
		out, resp, err := s.client.Repositories.ListEnvironments(ctx, owner, name, &gh.EnvironmentListOptions{ListOptions: *opt})
		if out != nil {
			envs = append(envs, out.Environments...)
		}
		return resp, err
	}); err != nil {
		return fmt.Errorf("environments: %w", err)
	}
	for _, env := range envs {
		en := env.GetName()
		id := int(r.GetID())
		if err := secretPages(base+"env/"+en+"/actions/", func(o *gh.ListOptions) (*gh.Secrets, *gh.Response, error) {
			return s.client.Actions.ListEnvSecrets(ctx, id, en, o)
		}); err != nil {
			return fmt.Errorf("environment %s secrets: %w", en, err)
		}
		if err := varPages(base+"env/"+en+"/actions/variables/", func(o *gh.ListOptions) (*gh.ActionsVariables, *gh.Response, error) {
			return s.client.Actions.ListEnvVariables(ctx, id, en, o)
		}); err != nil {
			return fmt.Errorf("environment %s variables: %w", en, err)
		}
	}
	return nil
}

// variable scans a variable's value with the leak rules. Only a redaction
// and the keyed hash of what was found are kept.
func (s *Store) variable(ctx context.Context, path, value string) {
	if s.detector == nil {
		return
	}
	for _, ts := range s.detector.DetectText(ctx, path, value) {
		kind := finding.KindInvPlaintextVariable
		s.reported = append(s.reported, finding.Finding{
			ID:       finding.Fingerprint(kind, path, ts.Rule, ts.Hash),
			Kind:     kind,
			Severity: finding.High,
			Scanner:  "inventory",
			Resource: path,
			Title:    fmt.Sprintf("variable %s holds a credential (%s)", path[strings.LastIndex(path, "/")+1:], ts.Rule),
			Detail: fmt.Sprintf("The Actions variable %s contains %s, matched by %s. Variables are plaintext, shown in logs and to every "+
				"collaborator: move it to a secret and rotate it.", path, ts.Redacted, ts.Rule),
			Status:   finding.StatusOpen,
			Evidence: finding.Evidence{"rule": ts.Rule, "redacted": ts.Redacted, "secret_hash": ts.Hash, "store": s.Name(), "path": path},
			Controls: s.controls.For(kind),
		})
	}
}

// SubjectTemplate returns the organisation's customised OIDC subject claim
// keys, or nil when it uses GitHub's default ("repo" and "context"); trust
// analysis reads subjects in a role's trust policy by it.
func (s *Store) SubjectTemplate(ctx context.Context) (org string, keys []string, err error) {
	s.Calls.Add(1)
	t, _, err := s.client.Actions.GetOrgOIDCSubjectClaimCustomTemplate(ctx, s.org)
	if err != nil {
		return s.org, nil, fmt.Errorf("github %s: OIDC subject template: %w", s.org, err)
	}
	if t == nil || (t.UseDefault != nil && *t.UseDefault) || len(t.IncludeClaimKeys) == 0 {
		return s.org, []string{"repo", "context"}, nil
	}
	return s.org, t.IncludeClaimKeys, nil
}

// Check reads one page of the organisation's Actions secrets, which needs
// what the listing needs (admin:org read, or a GitHub App's secrets
// permission): a pre-flight for `vigil doctor`.
func (s *Store) Check(ctx context.Context) error {
	s.Calls.Add(1)
	if _, _, err := s.client.Actions.ListOrgSecrets(ctx, s.org, &gh.ListOptions{PerPage: 1}); err != nil {
		return fmt.Errorf("github %s: list organisation secrets: %w", s.org, err)
	}
	return nil
}
