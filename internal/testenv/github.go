package testenv

import (
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

	mu       sync.Mutex
	examples map[string]json.RawMessage
	requests map[string]int // template -> count
	throttle map[string]int // template -> 429s still to send
}

// Examples returns the extracted official examples, keyed "GET <template>".
func Examples(t testing.TB) map[string]json.RawMessage {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "testdata", "github", "examples.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Examples map[string]json.RawMessage `json:"examples"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Examples
}

// NewGitHubReplay starts a replay server for the test.
func NewGitHubReplay(t testing.TB) *GitHubReplay {
	t.Helper()
	g := &GitHubReplay{Pages: 3, examples: Examples(t), requests: map[string]int{}, throttle: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
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
	body, ok := g.examples[r.Method+" "+tpl]
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if throttled {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}`)
		return
	}
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"message":"Not Found (no published example for %s %s)"}`, r.Method, tpl)
		return
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page < 1 {
		page = 1
	}
	link := func(p int, rel string) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(p))
		return fmt.Sprintf(`<%s%s?%s>; rel="%s"`, g.URL, r.URL.Path, q.Encode(), rel)
	}
	var links []string
	if page < g.Pages {
		links = append(links, link(page+1, "next"), link(g.Pages, "last"))
	}
	if page > 1 {
		links = append(links, link(page-1, "prev"), link(1, "first"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	w.Write(body)
}
