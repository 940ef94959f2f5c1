package githuborg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/gofri/go-github-ratelimit/v2/github_ratelimit"
	"github.com/gofri/go-github-ratelimit/v2/github_ratelimit/github_primary_ratelimit"
	gh "github.com/google/go-github/v60/github"
)

// Auth is how vigil authenticates to one organisation: a token, or a GitHub
// App installation whose tokens are minted (and re-minted before they
// expire) by ghinstallation.
type Auth struct {
	Token string
	App   *App
}

// App is a GitHub App installation.
type App struct {
	AppID, InstallationID int64
	PrivateKeyFile        string
}

// Client is the REST client for one organisation and the credential git
// uses for its clones.
type Client struct {
	API *gh.Client
	// Password gives git the current credential: the token, or an
	// installation token valid for at least another minute; nil without
	// a credential.
	Password func(context.Context) (string, error)
	// wait is the longest sleep for a primary rate limit's reset.
	wait time.Duration
}

// NewClient builds the client: go-github over a secondary-rate-limit
// sleeper (Retry-After), a primary-rate-limit guard, and at most
// maxRequests requests in flight, over the App's token minter if any.
func NewClient(apiURL string, auth Auth, maxRequests int, wait time.Duration, base http.RoundTripper) (*Client, error) {
	if base == nil {
		base = http.DefaultTransport
	}
	if maxRequests < 1 {
		maxRequests = 1
	}
	tr := base
	c := &Client{wait: wait}
	switch {
	case auth.App != nil:
		itr, err := ghinstallation.NewKeyFromFile(base, auth.App.AppID, auth.App.InstallationID, auth.App.PrivateKeyFile)
		if err != nil {
			// The error names the file, never the key.
			return nil, fmt.Errorf("github app key %s: %v", auth.App.PrivateKeyFile, err)
		}
		if apiURL != "" {
			itr.BaseURL = enterpriseAPI(apiURL)
		}
		tr = itr
		c.Password = itr.Token
	case auth.Token != "":
		tok := auth.Token
		c.Password = func(context.Context) (string, error) { return tok, nil }
	default:
		// No credential: a public organisation is listed and cloned
		// anonymously (at GitHub's lower anonymous rate limit).
	}
	hc := github_ratelimit.NewClient(&limited{base: tr, slots: make(chan struct{}, maxRequests)})
	api := gh.NewClient(hc)
	if auth.App == nil && auth.Token != "" {
		api = api.WithAuthToken(auth.Token)
	}
	if apiURL != "" {
		var err error
		if api, err = api.WithEnterpriseURLs(apiURL, apiURL); err != nil {
			return nil, fmt.Errorf("github api_url %s: %w", apiURL, err)
		}
	}
	c.API = api
	return c, nil
}

// enterpriseAPI is the REST root of a GitHub Enterprise Server given by its
// address, as go-github's WithEnterpriseURLs makes it.
func enterpriseAPI(apiURL string) string {
	u := strings.TrimRight(apiURL, "/")
	if strings.HasSuffix(u, "/api/v3") || strings.Contains(u, "api.github.com") {
		return u
	}
	return u + "/api/v3"
}

// limited lets at most cap(slots) requests be in flight: GitHub's secondary
// limits count concurrent requests, and a 10,000-repository organisation
// must not be listed with 10,000 at once.
type limited struct {
	base  http.RoundTripper
	slots chan struct{}
}

func (l *limited) RoundTrip(r *http.Request) (*http.Response, error) {
	select {
	case l.slots <- struct{}{}:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	defer func() { <-l.slots }()
	return l.base.RoundTrip(r)
}

// call runs f, and when GitHub's primary rate limit is reached waits for its
// reset (if that is within the client's wait) and runs f again. A secondary
// limit is slept through by the transport itself, per Retry-After.
func (c *Client) call(ctx context.Context, f func() (*gh.Response, error)) (*gh.Response, error) {
	for {
		resp, err := f()
		var limit *github_primary_ratelimit.RateLimitReachedError
		if err == nil || !errors.As(err, &limit) || limit.ResetTime == nil {
			return resp, err
		}
		d := time.Until(*limit.ResetTime)
		if d > c.wait {
			return resp, fmt.Errorf("github rate limit reached; it resets at %s, later than rate_limit_wait (%s) allows",
				limit.ResetTime.UTC().Format(time.RFC3339), c.wait)
		}
		t := time.NewTimer(d + 500*time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return resp, ctx.Err()
		case <-t.C:
		}
	}
}

// Check reads one repository of the organisation's listing and, when
// alerts are wanted, one secret-scanning alert: the permissions a night
// needs, for `vigil doctor`. Nothing is fetched or changed.
func (c *Client) Check(ctx context.Context, org string, alerts bool) (repos, alertsErr error) {
	get := func(path string) error {
		req, err := c.API.NewRequest(http.MethodGet, path, nil)
		if err != nil {
			return err
		}
		var v []json.RawMessage
		_, err = c.API.Do(ctx, req, &v)
		return err
	}
	repos = get(fmt.Sprintf("orgs/%s/repos?per_page=1", org))
	if alerts {
		alertsErr = get(fmt.Sprintf("orgs/%s/secret-scanning/alerts?state=open&per_page=1", org))
	}
	return repos, alertsErr
}
