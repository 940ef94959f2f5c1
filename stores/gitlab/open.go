package gitlab

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/stores"
)

// Open opens a store per group of each inventory.gitlab entry, and one for
// its instance variables when asked.
func Open(_ context.Context, d stores.Deps) ([]stores.Store, error) {
	inv := d.Config().Inventory
	if inv == nil || len(inv.GitLab) == 0 {
		return nil, nil
	}
	// Variable values are scanned with the same leak rules as the rest.
	det, err := d.Detector()
	if err != nil {
		return nil, err
	}
	var out []stores.Store
	for _, g := range inv.GitLab {
		client, err := NewClient(g)
		if err != nil {
			return nil, err
		}
		o := Options{Hasher: d.Hasher(), Detector: det, Controls: d.Controls(), Tokens: g.AccessTokens == nil || *g.AccessTokens}
		for _, grp := range g.Groups {
			o.Group = grp
			out = append(out, New(client, o))
		}
		if g.Instance {
			o.Group, o.Tokens = "", false
			out = append(out, New(client, o))
		}
	}
	return out, nil
}

// NewClient returns client-go's client of one GitLab, with the token from
// the variable the config names (default GITLAB_TOKEN). client-go retries
// 429s (waiting for RateLimit-Reset) and 5xx answers itself; extra
// options follow the defaults (doctor retries less).
func NewClient(g config.GitLab, extra ...gl.ClientOptionFunc) (*gl.Client, error) {
	env := g.TokenEnv
	if env == "" {
		env = "GITLAB_TOKEN"
	}
	// A server that accepts and never answers must not hold the nightly
	// run: every request (retries apart) ends within two minutes.
	opts := []gl.ClientOptionFunc{gl.WithHTTPClient(&http.Client{Timeout: 2 * time.Minute, Transport: http.DefaultTransport.(*http.Transport).Clone()})}
	if g.URL != "" {
		opts = append(opts, gl.WithBaseURL(g.URL))
	}
	c, err := gl.NewClient(os.Getenv(env), append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("gitlab %s: %w", g.URL, err)
	}
	return c, nil
}
