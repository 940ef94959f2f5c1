// Package doppler inventories a Doppler workplace through its REST API
// (v3; Doppler publishes no Go client): projects, their configs
// (environments and branch configs), each config's secret names, and its
// service tokens with their expiry. Without hash_values only names are read
// (the names endpoint); with it the secrets are read once and each computed
// value (what an application gets) is hashed at once and dropped.
//
// A service token that never expires is inventory.token_no_expiry; a token
// of a production config named for another environment (a dev or staging
// token reading prod) is inventory.env_mismatch.
//
// Declared paths: doppler:PROJECT/CONFIG/NAME, and
// doppler:PROJECT/CONFIG/token:NAME for service tokens (secret names are
// [A-Z0-9_], so a colon can't be part of one).
package doppler

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/jsonapi"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/stores"
)

// The response shapes, as Doppler's official SDKs declare them
// (@dopplerhq/node-sdk's ListResponse, ConfigsListResponse,
// NamesResponse, SecretsListResponse, ServiceTokensListResponse).
type (
	project struct {
		ID, Slug, Name, Description string
		CreatedAt                   string `json:"created_at"`
	}
	projectsPage struct {
		Page     int       `json:"page"`
		Projects []project `json:"projects"`
	}
	configInfo struct {
		Name        string `json:"name"`
		Root        bool   `json:"root"`
		Locked      bool   `json:"locked"`
		CreatedAt   string `json:"created_at"`
		LastFetchAt string `json:"last_fetch_at"`
		Environment string `json:"environment"`
		Project     string `json:"project"`
	}
	configsPage struct {
		Page    int          `json:"page"`
		Configs []configInfo `json:"configs"`
	}
	names struct {
		Names []string `json:"names"`
	}
	secretValue struct {
		Raw                string `json:"raw"`
		Computed           string `json:"computed"`
		Note               string `json:"note"`
		RawVisibility      string `json:"rawVisibility"`
		ComputedVisibility string `json:"computedVisibility"`
	}
	secrets struct {
		Secrets map[string]secretValue `json:"secrets"`
	}
	token struct {
		Name        string          `json:"name"`
		Slug        string          `json:"slug"`
		CreatedAt   string          `json:"created_at"`
		Config      string          `json:"config"`
		Environment string          `json:"environment"`
		Project     string          `json:"project"`
		ExpiresAt   json.RawMessage `json:"expires_at"` // a time, or null: never
	}
	tokens struct {
		Tokens []token `json:"tokens"`
	}
)

// Store is one Doppler workplace (what its token can see), limited to the
// projects whose slugs match.
type Store struct {
	api      *jsonapi.Client
	name     string
	projects []string
	hasher   stores.Hasher
	controls rules.Controls
	reported []finding.Finding
	listed   []string
	// Calls counts API requests.
	Calls atomic.Int64
}

// New returns the store named name (doppler:NAME) behind api.
func New(api *jsonapi.Client, name string, projects []string, hasher stores.Hasher, controls rules.Controls) *Store {
	return &Store{api: api, name: name, projects: projects, hasher: hasher, controls: controls}
}

// NewClient returns a client of Doppler's API at base (default
// https://api.doppler.com) with a personal, service account or CLI token.
func NewClient(base, token string) *jsonapi.Client {
	if base == "" {
		base = "https://api.doppler.com"
	}
	c := jsonapi.New(base, token)
	// Doppler's error body is {"messages": [...], "success": false}.
	c.Message = func(body []byte) string {
		var e struct{ Messages []string }
		if json.Unmarshal(body, &e) != nil {
			return ""
		}
		return strings.Join(e.Messages, "; ")
	}
	return c
}

// Name implements stores.Store.
func (s *Store) Name() string { return "doppler:" + s.name }

// Covers implements stores.Store: the projects the last List read whole.
func (s *Store) Covers() []string {
	out := make([]string, 0, len(s.listed))
	for _, p := range s.listed {
		out = append(out, "doppler:"+p+"/")
	}
	return out
}

// Reported returns the service-token findings of the last List.
func (s *Store) Reported() []finding.Finding { return s.reported }

// perPage is the page size asked for; Doppler may give fewer.
const perPage = 100

// maxPages bounds a listing whose server would never give an empty page.
const maxPages = 10000

// pages reads every page of a Doppler list. Doppler's pages carry no
// total, and a server may give fewer items than per_page, so only an empty
// page ends the list (a short page does not); an answer for another page
// than the one asked for (paging ignored) is an error, never a listing
// taken as complete.
func pages[P any](ctx context.Context, s *Store, p string, q url.Values, each func(*P) (page, n int)) error {
	q.Set("per_page", fmt.Sprint(perPage))
	for page := 1; page <= maxPages; page++ {
		q.Set("page", fmt.Sprint(page))
		var pg P
		if err := s.get(ctx, p, q, &pg); err != nil {
			return err
		}
		got, n := each(&pg)
		if n == 0 {
			return nil
		}
		if got != page {
			return fmt.Errorf("asked for page %d, answered with page %d: the list can't be read whole", page, got)
		}
	}
	return fmt.Errorf("more than %d pages", maxPages)
}

func (s *Store) get(ctx context.Context, p string, q url.Values, into any) error {
	s.Calls.Add(1)
	return s.api.Get(ctx, p+"?"+q.Encode(), into)
}

// List implements stores.Store.
func (s *Store) List(ctx context.Context, emit func(stores.Secret)) error {
	s.reported, s.listed = nil, nil
	var projects []project
	err := pages(ctx, s, "/v3/projects", url.Values{}, func(pp *projectsPage) (int, int) {
		projects = append(projects, pp.Projects...)
		return pp.Page, len(pp.Projects)
	})
	if err != nil {
		return fmt.Errorf("%s: list projects: %w", s.Name(), err)
	}
	sort.Slice(projects, func(i, j int) bool { return projects[i].Slug < projects[j].Slug })
	var slugs []string
	for _, p := range projects {
		slugs = append(slugs, p.Slug)
		if len(s.projects) > 0 && !rules.MatchAny(s.projects, p.Slug) {
			continue
		}
		if err := s.project(ctx, p, emit); err != nil {
			return err
		}
		s.listed = append(s.listed, p.Slug)
	}
	if missing := stores.Unmatched(s.projects, slugs); len(missing) > 0 {
		return fmt.Errorf("%s: no project %s (or the token may not read it): its secrets can't be checked", s.Name(), strings.Join(missing, ", "))
	}
	return nil
}

func (s *Store) project(ctx context.Context, p project, emit func(stores.Secret)) error {
	var configs []configInfo
	err := pages(ctx, s, "/v3/configs", url.Values{"project": {p.Slug}}, func(cp *configsPage) (int, int) {
		configs = append(configs, cp.Configs...)
		return cp.Page, len(cp.Configs)
	})
	if err != nil {
		return fmt.Errorf("%s: configs of project %s: %w", s.Name(), p.Slug, err)
	}
	for _, c := range configs {
		if err := s.config(ctx, p.Slug, c, emit); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) config(ctx context.Context, proj string, c configInfo, emit func(stores.Secret)) error {
	q := url.Values{"project": {proj}, "config": {c.Name}, "include_managed_secrets": {"false"}}
	prefix := "doppler:" + proj + "/" + c.Name + "/"
	base := stores.Secret{Store: s.Name(), Env: envOf(c.Environment), Where: fmt.Sprintf("project %s, config %s (environment %s)", proj, c.Name, c.Environment)}
	if !c.Root {
		base.Where += ", a branch config"
	}
	if s.hasher == nil {
		var n names
		if err := s.get(ctx, "/v3/configs/config/secrets/names", q, &n); err != nil {
			return fmt.Errorf("%s: secret names of %s/%s: %w", s.Name(), proj, c.Name, err)
		}
		sort.Strings(n.Names)
		for _, name := range n.Names {
			sec := base
			sec.Path = prefix + name
			emit(sec)
		}
	} else {
		var all secrets
		if err := s.get(ctx, "/v3/configs/config/secrets", q, &all); err != nil {
			return fmt.Errorf("%s: secrets of %s/%s: %w", s.Name(), proj, c.Name, err)
		}
		for _, name := range slices.Sorted(maps.Keys(all.Secrets)) {
			v := all.Secrets[name]
			sec := base
			sec.Path = prefix + name
			if v.RawVisibility != "" {
				sec.Where += ", " + v.RawVisibility
			}
			// The computed value is what an application is given (the raw
			// one may be a reference to another secret).
			if v.Computed != "" {
				sec.Hashes = []stores.ValueHash{{Current: true, Hash: s.hasher.Hash(v.Computed)}}
			}
			emit(sec)
		}
		all.Secrets = nil
	}

	var ts tokens
	if err := s.get(ctx, "/v3/configs/config/tokens", url.Values{"project": {proj}, "config": {c.Name}}, &ts); err != nil {
		return fmt.Errorf("%s: service tokens of %s/%s: %w", s.Name(), proj, c.Name, err)
	}
	// Two tokens with one name are named by name and slug, so neither
	// hides the other.
	names := map[string]int{}
	for _, t := range ts.Tokens {
		names[t.Name]++
	}
	for _, t := range ts.Tokens {
		name := t.Name
		if names[t.Name] > 1 {
			name = fmt.Sprintf("%s (%s)", t.Name, t.Slug)
		}
		s.token(emit, base, prefix, name, c, t)
	}
	return nil
}

func (s *Store) token(emit func(stores.Secret), base stores.Secret, prefix, name string, c configInfo, t token) {
	sec := base
	sec.Path = prefix + "token:" + name
	sec.Where = fmt.Sprintf("service token %s of %s", t.Slug, base.Where)
	sec.Created, _ = time.Parse(time.RFC3339, t.CreatedAt)
	var exp string
	never := len(t.ExpiresAt) == 0 || string(t.ExpiresAt) == "null" || json.Unmarshal(t.ExpiresAt, &exp) != nil || exp == ""
	if !never {
		sec.Expires, _ = time.Parse(time.RFC3339, exp)
	}
	emit(sec)
	ev := func() finding.Evidence {
		return finding.Evidence{"store": s.Name(), "path": sec.Path, "token_slug": t.Slug, "config": c.Name, "environment": c.Environment}
	}
	if never {
		kind := finding.KindInvTokenNoExpiry
		s.reported = append(s.reported, finding.Finding{
			ID: finding.Fingerprint(kind, s.Name(), sec.Path), Kind: kind, Severity: finding.Medium, Scanner: "inventory", Resource: sec.Path,
			Title:  fmt.Sprintf("Doppler service token %s never expires", t.Name),
			Detail: fmt.Sprintf("The service token %s reads %s and has no expiry: a copy of it works until someone revokes it. Issue one with an expiry, move its consumer to it and revoke this one.", sec.Path, base.Where),
			Status: finding.StatusOpen, Evidence: ev(), Controls: s.controls.For(kind),
		})
	}
	if te := envOf(t.Name); envOf(c.Environment) == "prod" && te != "" && te != "prod" {
		kind := finding.KindInvEnvMismatch
		e := ev()
		e["token_env"] = te
		s.reported = append(s.reported, finding.Finding{
			ID: finding.Fingerprint(kind, s.Name(), sec.Path), Kind: kind, Severity: finding.High, Scanner: "inventory", Resource: sec.Path,
			Title:  fmt.Sprintf("a %s token reads production config %s/%s", te, c.Project, c.Name),
			Detail: fmt.Sprintf("The service token %s is named for %s but reads the production config %s: production secrets reach a %s consumer. Revoke it and give that consumer a token of its own environment's config.", sec.Path, te, c.Name, te),
			Status: finding.StatusOpen, Evidence: e, Controls: s.controls.For(kind),
		})
	}
}

// envOf reads an environment from a Doppler environment slug or a token's
// name, word by word (a token named for a laptop, "local", is dev's too).
func envOf(s string) string {
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return strings.ContainsRune(" /:#._-", r) }) {
		if w == "local" {
			return "dev"
		}
		if env := rules.EnvOfWord(w); env != "" {
			return env
		}
	}
	return ""
}

// Check reads the first page of projects: a pre-flight for `vigil doctor`.
func (s *Store) Check(ctx context.Context) error {
	if err := s.get(ctx, "/v3/projects", url.Values{"page": {"1"}, "per_page": {"1"}}, &projectsPage{}); err != nil {
		return fmt.Errorf("%s: list projects: %w", s.Name(), err)
	}
	return nil
}
