package github

import (
	"testing"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/stores"
	"github.com/vigilsec/vigil/stores/storetest"
)

// The store conformance suite against the replay server of GitHub's own
// published examples, which serves every list as three pages. GitHub's API
// never returns a secret's value, so nothing is hashed.
func TestConformance(t *testing.T) {
	replay := testenv.NewGitHubReplay(t)
	open := func(t *testing.T, token, url string) stores.Store {
		c, err := NewClient(token, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		return New(c, "octo-org", engine(t), rules.DefaultControls())
	}
	ex := testenv.Examples(t)
	var fixed []string
	for _, n := range names(t, ex, "/orgs/{org}/actions/secrets") {
		fixed = append(fixed, "github:org/octo-org/actions/"+n)
	}
	for _, n := range names(t, ex, "/repos/{owner}/{repo}/actions/secrets") {
		fixed = append(fixed, "github:repo/octocat/Hello-World/actions/"+n)
	}
	storetest.Run(t, storetest.Harness{
		Open:          func(t *testing.T, _ stores.Hasher) stores.Store { return open(t, "test-token", replay.URL+"/") },
		Fixed:         fixed,
		HoldsNoValues: true,
		Broken:        func(t *testing.T) stores.Store { return open(t, "test-token", "http://127.0.0.1:1/") },
	})
}
