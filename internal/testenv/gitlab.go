package testenv

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go/v2"
)

// No GitLab can be installed here. GitLabServer answers the REST API paths
// vigil's GitLab store calls, from memory, in the shapes GitLab's official
// client-go reads: variables, groups and projects are client-go's own types
// encoded as JSON, and access tokens are the fixtures client-go's module
// ships (testdata/list_{group,project}_access_tokens.json), each token
// served as a copy of the fixture's first one with its own id, name and
// dates. Paging follows GitLab's headers (X-Next-Page, X-Total-Pages),
// throttling its rate-limit answer (429 with Retry-After and
// RateLimit-Reset), and refusals its error body ({"message": "403
// Forbidden"}).
type GitLabServer struct {
	URL      string
	Token    string // the PRIVATE-TOKEN every request must carry
	PageSize int
	// Deny answers 403 to every request; Throttle answers 429 to the next
	// Throttle requests.
	Deny     bool
	Throttle int

	mu        sync.Mutex
	groups    map[string]int64    // full path -> id
	projects  map[string]int64    // path with namespace -> id
	shared    map[string][]string // group -> projects of other groups shared with it
	vars      map[string][]gl.ProjectVariable
	tokens    map[string][]json.RawMessage // "groups/PATH" or "projects/PATH"
	fixtures  map[string]json.RawMessage   // "groups" | "projects" -> the fixture's first token
	nextID    int64
	requests  []string
	throttled int
}

// NewGitLabServer starts an empty GitLab for the test.
func NewGitLabServer(t testing.TB) *GitLabServer {
	t.Helper()
	g := &GitLabServer{PageSize: 20, groups: map[string]int64{}, projects: map[string]int64{}, vars: map[string][]gl.ProjectVariable{},
		tokens: map[string][]json.RawMessage{}, fixtures: map[string]json.RawMessage{}, nextID: 100,
		shared: map[string][]string{},
		Token:  "glpat-" + randFrom("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 20)}
	dir, err := ModuleDir("gitlab.com/gitlab-org/api/client-go/v2")
	if err != nil {
		t.Fatal(err)
	}
	for kind, file := range map[string]string{"groups": "list_group_access_tokens.json", "projects": "list_project_access_tokens.json"} {
		b, err := os.ReadFile(filepath.Join(dir, "testdata", file))
		if err != nil {
			t.Fatalf("client-go's fixture: %v", err)
		}
		var list []json.RawMessage
		if err := json.Unmarshal(b, &list); err != nil || len(list) == 0 {
			t.Fatalf("client-go's fixture %s: %v", file, err)
		}
		g.fixtures[kind] = list[0]
	}
	srv := httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

// Client returns a client-go client of this server (retrying as the
// store's own does, with short waits).
func (g *GitLabServer) Client(t testing.TB) *gl.Client {
	t.Helper()
	c, err := gl.NewClient(g.Token, gl.WithBaseURL(g.URL), gl.WithCustomRetryWaitMinMax(time.Millisecond, 10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Group adds a group (and its parents) by full path.
func (g *GitLabServer) Group(path string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	parts := strings.Split(path, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		if _, ok := g.groups[p]; !ok {
			g.nextID++
			g.groups[p] = g.nextID
		}
	}
}

// Project adds a project (and its groups) by path with namespace.
func (g *GitLabServer) Project(path string) {
	g.Group(path[:strings.LastIndex(path, "/")])
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.projects[path]; !ok {
		g.nextID++
		g.projects[path] = g.nextID
	}
}

// Share shares a project with a group (GitLab then lists it among the
// group's projects unless asked with_shared=false).
func (g *GitLabServer) Share(project, group string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.shared[group] = append(g.shared[group], project)
}

// Variable adds a variable to a group or project (owner "groups/PATH",
// "projects/PATH") or to the instance (owner "admin").
func (g *GitLabServer) Variable(owner string, v gl.ProjectVariable) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if v.VariableType == "" {
		v.VariableType = gl.EnvVariableType
	}
	if v.EnvironmentScope == "" {
		v.EnvironmentScope = "*"
	}
	g.vars[owner] = append(g.vars[owner], v)
}

// AccessToken adds an access token to a group or project (owner "groups/PATH",
// "projects/PATH"): the fixture's first token with this name, id and dates.
func (g *GitLabServer) AccessToken(owner, name string, expires *time.Time, lastUsed *time.Time, active bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var tok map[string]any
	_ = json.Unmarshal(g.fixtures[strings.SplitN(owner, "/", 2)[0]], &tok)
	g.nextID++
	tok["id"], tok["name"], tok["active"] = g.nextID, name, active
	tok["created_at"] = time.Now().Add(-30 * 24 * time.Hour).UTC().Format(time.RFC3339Nano)
	tok["expires_at"], tok["last_used_at"] = nil, nil
	if expires != nil {
		tok["expires_at"] = expires.UTC().Format("2006-01-02")
	}
	if lastUsed != nil {
		tok["last_used_at"] = lastUsed.UTC().Format(time.RFC3339Nano)
	}
	b, _ := json.Marshal(tok)
	g.tokens[owner] = append(g.tokens[owner], b)
}

// Requests returns the paths requested so far.
func (g *GitLabServer) Requests() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.requests...)
}

func (g *GitLabServer) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests = append(g.requests, r.URL.Path)
	if r.Header.Get("PRIVATE-TOKEN") != g.Token {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "401 Unauthorized"})
		return
	}
	if g.Deny {
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "403 Forbidden"})
		return
	}
	if g.Throttle > 0 {
		g.Throttle--
		w.Header().Set("Retry-After", "0")
		w.Header().Set("RateLimit-Reset", strconv.FormatInt(time.Now().Unix(), 10))
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, "Retry later\n")
		return
	}
	// client-go escapes a path id (acme%2Fdata): route on the raw path.
	raw := r.URL.EscapedPath()
	segs := strings.Split(strings.TrimPrefix(raw, "/api/v4/"), "/")
	for i := range segs {
		segs[i], _ = url.PathUnescape(segs[i])
	}
	notFound := func() { writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Not found"}) }
	var items []any
	switch {
	case len(segs) == 3 && segs[0] == "admin" && segs[1] == "ci" && segs[2] == "variables":
		for _, v := range g.vars["admin"] {
			items = append(items, gl.InstanceVariable{Key: v.Key, Value: v.Value, VariableType: v.VariableType, Protected: v.Protected,
				Masked: v.Masked, Raw: v.Raw, Description: v.Description})
		}
	case len(segs) == 3 && (segs[0] == "groups" || segs[0] == "projects"):
		ids := g.groups
		if segs[0] == "projects" {
			ids = g.projects
		}
		if _, ok := ids[segs[1]]; !ok {
			notFound()
			return
		}
		owner := segs[0] + "/" + segs[1]
		switch segs[2] {
		case "variables":
			for _, v := range g.vars[owner] {
				if v.Hidden {
					v.Value = "" // GitLab never returns a hidden variable's value
				}
				if segs[0] == "groups" {
					items = append(items, gl.GroupVariable(v))
				} else {
					items = append(items, v)
				}
			}
		case "access_tokens":
			for _, t := range g.tokens[owner] {
				items = append(items, t)
			}
		case "descendant_groups":
			var paths []string
			for p := range g.groups {
				if strings.HasPrefix(p, segs[1]+"/") {
					paths = append(paths, p)
				}
			}
			sort.Strings(paths)
			for _, p := range paths {
				items = append(items, gl.Group{ID: g.groups[p], Path: p[strings.LastIndex(p, "/")+1:], FullPath: p, Name: p[strings.LastIndex(p, "/")+1:]})
			}
		case "projects":
			var paths []string
			for p := range g.projects {
				if strings.HasPrefix(p, segs[1]+"/") && (r.URL.Query().Get("include_subgroups") == "true" || !strings.Contains(p[len(segs[1])+1:], "/")) {
					paths = append(paths, p)
				}
			}
			if r.URL.Query().Get("with_shared") != "false" { // GitLab's default: true
				paths = append(paths, g.shared[segs[1]]...)
			}
			sort.Strings(paths)
			for _, p := range paths {
				items = append(items, gl.Project{ID: g.projects[p], Path: p[strings.LastIndex(p, "/")+1:], PathWithNamespace: p, Name: p[strings.LastIndex(p, "/")+1:]})
			}
		default:
			notFound()
			return
		}
	default:
		notFound()
		return
	}
	if items == nil {
		items = []any{}
	}
	g.page(w, r, items)
}

// page writes one page of items with GitLab's pagination headers.
func (g *GitLabServer) page(w http.ResponseWriter, r *http.Request, items []any) {
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if per <= 0 || per > g.PageSize {
		per = g.PageSize
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page <= 0 {
		page = 1
	}
	pages := max(1, (len(items)+per-1)/per)
	lo, hi := min((page-1)*per, len(items)), min(page*per, len(items))
	h := w.Header()
	h.Set("X-Page", strconv.Itoa(page))
	h.Set("X-Per-Page", strconv.Itoa(per))
	h.Set("X-Total", strconv.Itoa(len(items)))
	h.Set("X-Total-Pages", strconv.Itoa(pages))
	if page < pages {
		h.Set("X-Next-Page", strconv.Itoa(page+1))
	}
	writeJSON(w, http.StatusOK, items[lo:hi])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
