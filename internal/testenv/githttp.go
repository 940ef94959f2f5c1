package testenv

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// GitServer serves the bare repositories under a root over git's smart
// HTTP protocol with the real `git http-backend` (through net/http/cgi),
// behind HTTP basic authentication.
type GitServer struct {
	URL string // http://127.0.0.1:PORT/

	mu       sync.Mutex
	check    func(user, password string) bool
	users    []string
	requests []string // "GET /repo.git/info/refs?service=git-upload-pack"
}

// NewGitServer starts a server over root whose credentials are checked by
// check (which may change while it runs: an App token that expires).
func NewGitServer(t testing.TB, root string, check func(user, password string) bool) *GitServer {
	t.Helper()
	Required(t, "git")
	g, stop := ServeGit(root, check)
	t.Cleanup(stop)
	return g
}

// ServeGit starts a git server over root on loopback (benchmarks use it
// outside a test); stop closes it.
func ServeGit(root string, check func(user, password string) bool) (g *GitServer, stop func()) {
	gitBin, _ := exec.LookPath("git")
	backend := &cgi.Handler{
		Path:   gitBin,
		Args:   []string{"http-backend"},
		Env:    []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
		Stderr: io.Discard, // "Not a git repository" for the tests' missing ones
	}
	g = &GitServer{check: check}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		g.mu.Lock()
		if ok {
			g.users = append(g.users, u)
		}
		allowed := ok && g.check(u, p)
		g.mu.Unlock()
		if allowed {
			kind := r.Method
			if r.Method == http.MethodPost {
				kind = peekCommand(r)
			}
			g.mu.Lock()
			g.requests = append(g.requests, kind+" "+r.URL.Path)
			g.mu.Unlock()
		}
		if !allowed {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	g.URL = srv.URL + "/"
	return g, srv.Close
}

// Users returns the user of every request that gave one.
func (g *GitServer) Users() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.users...)
}

// Requests returns the authenticated requests: "GET /r.git/info/refs",
// "ls-refs /r.git/git-upload-pack" (protocol v2's ref listing, an
// ls-remote), "fetch /r.git/git-upload-pack" (objects sent: a clone or a
// fetch).
func (g *GitServer) Requests() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.requests...)
}

// Reset forgets the requests seen so far.
func (g *GitServer) Reset() {
	g.mu.Lock()
	g.requests, g.users = nil, nil
	g.mu.Unlock()
}

// GitHTTP serves the bare repositories under root with one user and
// password. It returns the base URL and the users seen, so a test can check
// that credentials arrived without reading them from a URL.
func GitHTTP(t testing.TB, root, user, password string) (base string, seen func() []string) {
	t.Helper()
	g := NewGitServer(t, root, func(u, p string) bool { return u == user && p == password })
	return g.URL, g.Users
}

// Fetches counts the requests that sent objects of the repository whose
// path (under the root) starts with repo.
func (g *GitServer) Fetches(repo string) int {
	n := 0
	for _, r := range g.Requests() {
		if strings.HasPrefix(r, "fetch /"+repo) {
			n++
		}
	}
	return n
}

// peekCommand reads a git-upload-pack request's protocol v2 command
// (ls-refs or fetch) and puts the body back for http-backend.
func peekCommand(r *http.Request) string {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	plain := body
	if r.Header.Get("Content-Encoding") == "gzip" {
		if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
			plain, _ = io.ReadAll(zr)
		}
	}
	switch {
	case bytes.Contains(plain, []byte("command=ls-refs")):
		return "ls-refs"
	case bytes.Contains(plain, []byte("command=fetch")), bytes.Contains(plain, []byte("want ")):
		return "fetch"
	}
	return "POST"
}
