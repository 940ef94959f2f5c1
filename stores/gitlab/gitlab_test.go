package gitlab

import (
	"context"
	"strings"
	"testing"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners/leaks"
	"github.com/vigilsec/vigil/stores"
	"github.com/vigilsec/vigil/stores/storetest"
)

// The tests run GitLab's official client-go against testenv.GitLabServer:
// client-go's own types as the responses, its module's access-token
// fixtures, GitLab's paging headers and its 429 and 403 answers.

func engine(t *testing.T) *leaks.Engine { return storetest.Detector(t) }

func TestConformance(t *testing.T) {
	g := testenv.NewGitLabServer(t)
	g.PageSize = 2
	g.Project("acme/data/warehouse")
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T, h stores.Hasher) stores.Store {
			return New(g.Client(t), Options{Group: "acme", Hasher: h, Tokens: true})
		},
		Seed: func(t *testing.T, name, value string) string {
			key := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
			g.Variable("projects/acme/data/warehouse", gl.ProjectVariable{Key: key, Value: value, Masked: true, Protected: true})
			return "gitlab:acme/data/warehouse/" + key
		},
		Paged: 3,
		Broken: func(t *testing.T) stores.Store {
			c, err := gl.NewClient("x", gl.WithBaseURL("http://127.0.0.1:1"), gl.WithoutRetries())
			if err != nil {
				t.Fatal(err)
			}
			return New(c, Options{Group: "acme"})
		},
		Denied: func(t *testing.T) stores.Store {
			d := testenv.NewGitLabServer(t)
			d.Project("acme/app")
			d.Deny = true
			return New(d.Client(t), Options{Group: "acme"})
		},
	})
}

// Groups, subgroups and projects; environment scopes; hidden variables;
// access tokens with expiry and last use; and what the comparison makes of
// them.
func TestVariablesAndTokens(t *testing.T) {
	g := testenv.NewGitLabServer(t)
	g.PageSize = 3
	g.Project("acme/app")
	g.Project("acme/data/warehouse")
	g.Group("other") // not under acme: never read
	g.Project("other/shared-tool")
	g.Share("other/shared-tool", "acme") // shared with acme: listed under other, not acme
	g.Variable("projects/other/shared-tool", gl.ProjectVariable{Key: "ELSEWHERE", Value: "x"})
	prod, staging, hidden, grp, inst := testenv.FakeAWSKey(), testenv.FakeAWSKey(), testenv.FakeAWSKey(), testenv.FakeAWSKey(), testenv.FakeAWSKey()
	g.Variable("projects/acme/data/warehouse", gl.ProjectVariable{Key: "DB_PASSWORD", Value: prod, EnvironmentScope: "production", Masked: true, Protected: true})
	g.Variable("projects/acme/data/warehouse", gl.ProjectVariable{Key: "DB_PASSWORD", Value: staging, EnvironmentScope: "staging", Masked: true, Protected: true})
	g.Variable("projects/acme/app", gl.ProjectVariable{Key: "SIGNING_KEY", Value: hidden, Masked: true, Protected: true, Hidden: true})
	g.Variable("groups/acme/data", gl.ProjectVariable{Key: "WAREHOUSE_KEY", Value: grp, Masked: true, Protected: true, VariableType: gl.FileVariableType})
	g.Variable("groups/other", gl.ProjectVariable{Key: "ELSEWHERE", Value: "x"})
	g.Variable("admin", gl.ProjectVariable{Key: "RUNNER_TOKEN", Value: inst, Masked: true, Protected: true})
	past, soon := time.Now().Add(-24*time.Hour), time.Now().Add(5*24*time.Hour)
	long := time.Now().Add(-200 * 24 * time.Hour)
	g.AccessToken("projects/acme/app", "deploy", &soon, &long, true)
	g.AccessToken("groups/acme", "ci-bot", nil, nil, true)
	g.AccessToken("groups/acme/data", "old", &past, nil, false) // expired: GitLab deactivated it

	h, _ := secrethash.New([]byte(strings.Repeat("k", 32)))
	st := New(g.Client(t), Options{Group: "acme", Hasher: h, Detector: engine(t), Controls: rules.DefaultControls(), Tokens: true})
	got := storetest.List(t, st)
	byPath := map[string]stores.Secret{}
	var paths []string
	for _, s := range got {
		byPath[s.Path] = s
		paths = append(paths, s.Path)
	}
	want := []string{
		"gitlab:acme/app/SIGNING_KEY",
		"gitlab:acme/app/token:deploy",
		"gitlab:acme/data/WAREHOUSE_KEY",
		"gitlab:acme/data/warehouse/DB_PASSWORD@production",
		"gitlab:acme/data/warehouse/DB_PASSWORD@staging",
		"gitlab:acme/token:ci-bot",
	}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Fatalf("listed\n%v\nwant\n%v", paths, want)
	}
	if p := byPath["gitlab:acme/data/warehouse/DB_PASSWORD@production"]; p.Env != "production" || len(p.Hashes) != 1 || p.Hashes[0].Hash != h.Hash(prod) ||
		!strings.Contains(p.Where, "masked, protected") {
		t.Errorf("scoped variable: %+v", p)
	}
	if s := byPath["gitlab:acme/app/SIGNING_KEY"]; len(s.Hashes) != 0 || !strings.Contains(s.Where, "hidden") {
		t.Errorf("a hidden variable has no value to hash: %+v", s)
	}
	if s := byPath["gitlab:acme/data/WAREHOUSE_KEY"]; len(s.Hashes) != 1 || s.Hashes[0].Hash != h.Hash(grp) || !strings.Contains(s.Where, "file variable") {
		t.Errorf("group file variable: %+v", s)
	}
	d := byPath["gitlab:acme/app/token:deploy"]
	if d.Expires.IsZero() || d.LastAccessed.IsZero() || d.Created.IsZero() || !strings.Contains(d.Where, "scopes api,read_api") {
		t.Errorf("token: %+v", d)
	}
	if ci := byPath["gitlab:acme/token:ci-bot"]; !ci.Expires.IsZero() {
		t.Errorf("a token without expiry: %+v", ci)
	}
	if r := st.Reported(); len(r) != 1 || r[0].Kind != finding.KindInvTokenNoExpiry || r[0].Resource != "gitlab:acme/token:ci-bot" || len(r[0].Controls) == 0 {
		t.Errorf("only the token without expiry is reported: %+v", r)
	}
	for _, r := range g.Requests() {
		if strings.Contains(r, "other") {
			t.Errorf("read outside the group: %s", r)
		}
	}
	kinds := storetest.Compared(got, "gitlab:acme/")
	joined := strings.Join(kinds, "; ")
	for _, k := range []string{string(finding.KindInvRotationOverdue) + " gitlab:acme/app/token:deploy", string(finding.KindInvUnused) + " gitlab:acme/app/token:deploy"} {
		if !strings.Contains(joined, k) {
			t.Errorf("missing %q in %v", k, kinds)
		}
	}

	// Instance variables: their own store and prefix.
	inst2 := storetest.List(t, New(g.Client(t), Options{Hasher: h}))
	if len(inst2) != 1 || inst2[0].Path != "gitlab:-/instance/RUNNER_TOKEN" || inst2[0].Store != "gitlab:instance" || inst2[0].Hashes[0].Hash != h.Hash(inst) {
		t.Fatalf("instance: %+v", inst2)
	}
}

// A credential in an unmasked variable, and one in a masked variable that
// is not protected, are findings; the value is in none of them.
func TestCredentialsInVariables(t *testing.T) {
	g := testenv.NewGitLabServer(t)
	g.Project("acme/app")
	plain, unprotected, safe := testenv.FakeGitHubToken(), testenv.FakeGitHubToken(), testenv.FakeGitHubToken()
	g.Variable("projects/acme/app", gl.ProjectVariable{Key: "GH_TOKEN", Value: plain})
	g.Variable("projects/acme/app", gl.ProjectVariable{Key: "GH_TOKEN_MASKED", Value: unprotected, Masked: true})
	g.Variable("projects/acme/app", gl.ProjectVariable{Key: "GH_TOKEN_SAFE", Value: safe, Masked: true, Protected: true})
	g.Variable("projects/acme/app", gl.ProjectVariable{Key: "LOG_LEVEL", Value: "debug"})
	s := New(g.Client(t), Options{Group: "acme", Detector: engine(t), Controls: rules.DefaultControls()})
	storetest.List(t, s)
	got := map[string]finding.Kind{}
	for _, f := range s.Reported() {
		got[f.Resource] = f.Kind
		for _, v := range []string{plain, unprotected, safe} {
			if strings.Contains(f.Title+f.Detail+f.Evidence.String("redacted"), v) {
				t.Fatalf("a finding carries the value: %+v", f)
			}
		}
		if len(f.Controls) == 0 {
			t.Errorf("%s maps to no control", f.Kind)
		}
	}
	if len(got) != 2 || got["gitlab:acme/app/GH_TOKEN"] != finding.KindInvPlaintextVariable || got["gitlab:acme/app/GH_TOKEN_MASKED"] != finding.KindInvUnprotectedVariable {
		t.Fatalf("findings: %v", got)
	}
}

// Throttling is waited out by client-go; throttling that does not end is an
// error naming the store, and a refusal says what is missing.
func TestThrottledAndForbidden(t *testing.T) {
	g := testenv.NewGitLabServer(t)
	g.Project("acme/app")
	g.Variable("projects/acme/app", gl.ProjectVariable{Key: "A", Value: "b"})
	g.Throttle = 3
	if got := storetest.List(t, New(g.Client(t), Options{Group: "acme"})); len(got) != 1 {
		t.Fatalf("after three 429s: %+v", got)
	}
	g.Throttle = 100
	err := New(g.Client(t), Options{Group: "acme"}).List(context.Background(), func(stores.Secret) {})
	if err == nil || !strings.Contains(err.Error(), "gitlab:acme") || !strings.Contains(err.Error(), "429") {
		t.Fatalf("throttled throughout: %v", err)
	}
	g.Throttle, g.Deny = 0, true
	err = New(g.Client(t), Options{Group: "acme"}).List(context.Background(), func(stores.Secret) {})
	if err == nil || !strings.Contains(err.Error(), "forbidden (403") || !strings.Contains(err.Error(), "Maintainer") {
		t.Fatalf("denied: %v", err)
	}
}

// Two working tokens with one name are both listed, by name and id; a
// revoked one of the same name is history and makes no twin.
func TestTokensWithOneName(t *testing.T) {
	g := testenv.NewGitLabServer(t)
	g.Project("acme/app")
	far := time.Now().Add(300 * 24 * time.Hour)
	g.AccessToken("projects/acme/app", "deploy", &far, nil, true)
	g.AccessToken("projects/acme/app", "deploy", &far, nil, true)
	g.AccessToken("projects/acme/app", "ci", &far, nil, true)
	g.AccessToken("projects/acme/app", "ci", &far, nil, false)
	got := storetest.List(t, New(g.Client(t), Options{Group: "acme", Tokens: true}))
	var paths []string
	for _, s := range got {
		paths = append(paths, s.Path)
	}
	j := strings.Join(paths, " ")
	if len(got) != 3 || !strings.Contains(j, "gitlab:acme/app/token:ci ") || strings.Count(j, "gitlab:acme/app/token:deploy (") != 2 {
		t.Fatalf("listed %v", paths)
	}
}
