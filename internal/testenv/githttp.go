package testenv

import (
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"testing"
)

// GitHTTP serves the bare repositories under root over git's smart HTTP
// protocol with the real `git http-backend` (through net/http/cgi), behind
// HTTP basic authentication with user and password. It returns the base URL
// (http://127.0.0.1:PORT/) and stops the server when the test ends. Each
// request's user is appended to seen, so a test can check that credentials
// arrived without reading them from a URL.
func GitHTTP(t testing.TB, root, user, password string) (base string, seen func() []string) {
	t.Helper()
	Required(t, "git")
	gitBin, _ := exec.LookPath("git")
	backend := &cgi.Handler{
		Path:   gitBin,
		Args:   []string{"http-backend"},
		Env:    []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
		Stderr: io.Discard, // "Not a git repository" for the tests' missing ones
	}
	var users []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if ok {
			users = append(users, u)
		}
		if !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/", func() []string { return users }
}
