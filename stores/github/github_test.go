package github

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners/leaks"
	"github.com/vigilsec/vigil/stores"
	"github.com/vigilsec/vigil/stores/storetest"
)

func engine(t *testing.T) *leaks.Engine { return storetest.Detector(t) }

// names reads the secret names of an official example.
func names(t *testing.T, ex map[string]json.RawMessage, tpl string) []string {
	var body struct {
		Secrets []struct{ Name string } `json:"secrets"`
	}
	if err := json.Unmarshal(ex["GET "+tpl], &body); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range body.Secrets {
		out = append(out, s.Name)
	}
	return out
}

func TestOrgInventoryFromPublishedExamples(t *testing.T) {
	replay := testenv.NewGitHubReplay(t)
	ex := testenv.Examples(t)
	// Plant a credential in the official org variables example.
	var vars map[string]any
	json.Unmarshal(ex["GET /orgs/{org}/actions/variables"], &vars)
	tok := testenv.FakeGitHubToken()
	vars["variables"].([]any)[0].(map[string]any)["value"] = tok
	replay.Replace("/orgs/{org}/actions/variables", vars)
	replay.Throttle("/orgs/{org}/dependabot/secrets", 1)

	// GitHub Enterprise Server: the client adds /api/v3/.
	c, err := NewClient("test-token", replay.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	e := engine(t)
	s := New(c, "octo-org", e, rules.DefaultControls())
	seen := map[string]bool{}
	n := 0
	if err := s.List(context.Background(), func(x stores.Secret) {
		seen[x.Path] = true
		n++
		if x.Created.IsZero() || x.Updated.IsZero() {
			t.Errorf("%s without dates", x.Path)
		}
	}); err != nil {
		t.Fatal(err)
	}

	var want []string
	for _, p := range []struct{ prefix, tpl string }{
		{"github:org/octo-org/actions/", "/orgs/{org}/actions/secrets"},
		{"github:org/octo-org/dependabot/", "/orgs/{org}/dependabot/secrets"},
		{"github:org/octo-org/codespaces/", "/orgs/{org}/codespaces/secrets"},
		{"github:repo/octocat/Hello-World/actions/", "/repos/{owner}/{repo}/actions/secrets"},
		{"github:repo/octocat/Hello-World/dependabot/", "/repos/{owner}/{repo}/dependabot/secrets"},
		{"github:repo/octocat/Hello-World/codespaces/", "/repos/{owner}/{repo}/codespaces/secrets"},
		{"github:repo/octocat/Hello-World/env/staging/actions/", "/repos/{owner}/{repo}/environments/{environment_name}/secrets"},
	} {
		for _, name := range names(t, ex, p.tpl) {
			want = append(want, p.prefix+name)
		}
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("missing %s", w)
		}
	}
	if len(want) < 14 {
		t.Fatalf("only %d expected secrets: the examples changed?", len(want))
	}
	// Every list was read page by page: 3 pages each; the org repo list too.
	for _, tpl := range []string{"/orgs/{org}/repos", "/orgs/{org}/actions/secrets", "/orgs/{org}/actions/variables"} {
		if got := replay.Requests(tpl); got != 3 {
			t.Errorf("%s: %d requests, want 3 pages", tpl, got)
		}
	}
	// The 429 was waited out and retried: 3 pages + 1 refused request.
	if got := replay.Requests("/orgs/{org}/dependabot/secrets"); got != 4 {
		t.Errorf("dependabot org secrets: %d requests, want 4 (one 429 retried)", got)
	}
	// Three pages of the repo list name the same example repository three
	// times; each is read fully (3 pages of its secrets each).
	if got := replay.Requests("/repos/{owner}/{repo}/actions/secrets"); got != 9 {
		t.Errorf("repo secrets: %d requests", got)
	}

	var pv []finding.Finding
	for _, f := range s.Reported() {
		if f.Kind == finding.KindInvPlaintextVariable {
			pv = append(pv, f)
		}
	}
	if len(pv) == 0 {
		t.Fatal("the planted token in a variable was not reported")
	}
	sort.Slice(pv, func(i, j int) bool { return pv[i].ID < pv[j].ID })
	f := pv[0]
	if f.Resource != "github:org/octo-org/actions/variables/USERNAME" || f.Evidence["rule"] != "github-pat" || strings.Contains(f.Detail, tok) {
		t.Fatalf("finding %+v", f)
	}
}

func TestGitHubErrorsNameTheStore(t *testing.T) {
	c, _ := NewClient("", "http://127.0.0.1:1/", nil)
	err := New(c, "acme", nil, nil).List(context.Background(), func(stores.Secret) {})
	if err == nil || !strings.Contains(err.Error(), "github:acme: org actions secrets") {
		t.Fatalf("%v", err)
	}
}
