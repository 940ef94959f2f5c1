package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// GitHubReplay serves GitHub's own published example responses (extracted
// from @octokit/openapi by testdata/github/extract.sh), so that go-github is
// driven against real response shapes rather than hand-written JSON.
//
// Every list is served as Pages pages with Link headers, each page the
// official example. The legacy /repositories/{id}/... form that go-github
// v60 uses for environment secrets and variables is answered with the
// example of the equivalent /repos/{owner}/{repo}/... endpoint.
type GitHubReplay struct {
	URL   string
	Pages int

	// Mint, when set, gives each POST .../access_tokens its token and
	// expiry (written into the official example in place of its own).
	Mint func() (token string, expires time.Time)

	mu       sync.Mutex
	examples map[string]json.RawMessage
	requests map[string]int // template -> count
	throttle map[string]int // template -> 429s still to send
	primary  map[string]int // template -> primary-limit 403s still to send
	reset    time.Time      // the reset those 403s announce
	paged    map[string]bool
	// notModified counts 304 answers, by template.
	notModified map[string]int
}

// Examples returns the extracted official examples, keyed "GET <template>".
func Examples(t testing.TB) map[string]json.RawMessage {
	t.Helper()
	ex, err := LoadExamples()
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

// LoadExamples reads testdata/github/examples.json (benchmarks use it
// outside a test).
func LoadExamples() (map[string]json.RawMessage, error) {
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "testdata", "github", "examples.json"))
	if err != nil {
		return nil, err
	}
	var f struct {
		Examples map[string]json.RawMessage `json:"examples"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	return f.Examples, nil
}

// NewGitHubReplay starts a replay server for the test.
func NewGitHubReplay(t testing.TB) *GitHubReplay {
	t.Helper()
	g, stop := ServeGitHubReplay(Examples(t))
	t.Cleanup(stop)
	return g
}

// ServeGitHubReplay starts a replay server of examples on loopback; stop
// closes it.
func ServeGitHubReplay(examples map[string]json.RawMessage) (g *GitHubReplay, stop func()) {
	g = &GitHubReplay{Pages: 3, examples: examples, requests: map[string]int{}, throttle: map[string]int{},
		primary: map[string]int{}, paged: map[string]bool{}, notModified: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(g.serve))
	g.URL = srv.URL
	return g, srv.Close
}

// Replace swaps one example for the test (e.g. to plant a fake secret in an
// official variables example); the structure stays GitHub's.
func (g *GitHubReplay) Replace(template string, body any) {
	b, _ := json.Marshal(body)
	g.mu.Lock()
	g.examples["GET "+template] = b
	g.mu.Unlock()
}

// Throttle makes the next n requests to template answer 429 with Retry-After.
func (g *GitHubReplay) Throttle(template string, n int) {
	g.mu.Lock()
	g.throttle[template] = n
	g.mu.Unlock()
}

// PrimaryLimit makes the next n requests to template answer as GitHub does
// when the primary rate limit is spent: 403 with x-ratelimit-remaining 0 and
// the reset time.
func (g *GitHubReplay) PrimaryLimit(template string, n int, reset time.Time) {
	g.mu.Lock()
	g.primary[template], g.reset = n, reset
	g.mu.Unlock()
}

// Paged makes template's example (a JSON array) a real list: each page is
// the next per_page items of it, with Link headers to the real last page,
// instead of the same example on every page.
func (g *GitHubReplay) Paged(template string) {
	g.mu.Lock()
	g.paged[template] = true
	g.mu.Unlock()
}

// NotModified returns how many requests to template were answered 304.
func (g *GitHubReplay) NotModified(template string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.notModified[template]
}

// Requests returns how many requests reached template.
func (g *GitHubReplay) Requests(template string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.requests[template]
}

// template maps a request path to the OpenAPI path template it instantiates.
func template(path string) string {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(seg) == 3 && seg[0] == "orgs" && seg[2] == "repos":
		return "/orgs/{org}/repos"
	case len(seg) == 6 && seg[0] == "orgs" && seg[2] == "actions" && seg[3] == "oidc":
		return "/orgs/{org}/actions/oidc/customization/sub"
	case len(seg) == 4 && seg[0] == "orgs":
		return "/orgs/{org}/" + seg[2] + "/" + seg[3]
	case len(seg) == 5 && seg[0] == "repos":
		return "/repos/{owner}/{repo}/" + seg[3] + "/" + seg[4]
	case len(seg) == 4 && seg[0] == "repos" && seg[3] == "environments":
		return "/repos/{owner}/{repo}/environments"
	case len(seg) == 6 && seg[0] == "repos" && seg[3] == "environments":
		return "/repos/{owner}/{repo}/environments/{environment_name}/" + seg[5]
	case len(seg) == 4 && seg[0] == "app" && seg[1] == "installations" && seg[3] == "access_tokens":
		return "/app/installations/{installation_id}/access_tokens"
	case len(seg) == 5 && seg[0] == "repositories" && seg[2] == "environments":
		return "/repos/{owner}/{repo}/environments/{environment_name}/" + seg[4]
	}
	return path
}

func (g *GitHubReplay) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/api/v3") // GitHub Enterprise Server's prefix
	tpl := template(path)
	g.mu.Lock()
	g.requests[tpl]++
	throttled := g.throttle[tpl] > 0
	if throttled {
		g.throttle[tpl]--
	}
	limited := g.primary[tpl] > 0
	if limited {
		g.primary[tpl]--
	}
	reset, paged := g.reset, g.paged[tpl]
	body, ok := g.examples[r.Method+" "+tpl]
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	switch {
	case throttled:
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}`)
		return
	case limited:
		w.Header().Set("x-ratelimit-limit", "5000")
		w.Header().Set("x-ratelimit-remaining", "0")
		w.Header().Set("x-ratelimit-used", "5000")
		w.Header().Set("x-ratelimit-resource", "core")
		w.Header().Set("x-ratelimit-reset", strconv.FormatInt(reset.Unix(), 10))
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"message":"API rate limit exceeded for installation.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}`)
		return
	case !ok:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"message":"Not Found (no published example for %s %s)"}`, r.Method, tpl)
		return
	}
	if r.Method == http.MethodPost && strings.HasSuffix(tpl, "/access_tokens") && g.Mint != nil {
		var tok map[string]any
		if err := json.Unmarshal(body, &tok); err == nil {
			token, exp := g.Mint()
			tok["token"], tok["expires_at"] = token, exp.UTC().Format(time.RFC3339)
			body, _ = json.Marshal(tok)
		}
		w.WriteHeader(http.StatusCreated)
		w.Write(body)
		return
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page < 1 {
		page = 1
	}
	last := g.Pages
	if paged {
		var items []json.RawMessage
		if err := json.Unmarshal(body, &items); err == nil {
			per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
			if per < 1 {
				per = 30
			}
			last = max(1, (len(items)+per-1)/per)
			lo, hi := min((page-1)*per, len(items)), min(page*per, len(items))
			body, _ = json.Marshal(items[lo:hi])
		}
	}
	link := func(p int, rel string) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(p))
		return fmt.Sprintf(`<%s%s?%s>; rel="%s"`, g.URL, r.URL.Path, q.Encode(), rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(page-1, "prev"), link(1, "first"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	// GitHub's conditional requests: the same representation has the same
	// ETag, and a request naming it is answered 304 with no body.
	sum := sha256.Sum256(append(body, w.Header().Get("Link")...))
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		g.mu.Lock()
		g.notModified[tpl]++
		g.mu.Unlock()
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(body)
}
