package testenv

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Org is a GitHub organisation for tests: bare repositories under Root
// served by the real git smart-HTTP server, listed by the GitHub replay
// server with GitHub's own example repository object (only its identity
// and clone URL changed), every page a real page.
type Org struct {
	T    testing.TB
	Name string
	Root string
	Git  *GitServer
	API  *GitHubReplay
	// Repos are the listed repository objects, in listing order.
	Repos []map[string]any
	// Work holds each repository's working clone, by name.
	Work   map[string]*Repo
	nextID int64
}

// NewOrg starts the servers for organisation name; check decides which
// git credentials are accepted.
func NewOrg(t testing.TB, name string, check func(user, pass string) bool) *Org {
	t.Helper()
	o := &Org{T: t, Name: name, Root: t.TempDir(), Work: map[string]*Repo{}, nextID: 1000}
	o.Git = NewGitServer(t, o.Root, check)
	o.API = NewGitHubReplay(t)
	o.API.Paged("/orgs/{org}/repos")
	o.API.Paged("/orgs/{org}/secret-scanning/alerts")
	o.API.Replace("/orgs/{org}/secret-scanning/alerts", []any{})
	o.Publish()
	return o
}

// Add creates a repository whose commits fill makes, pushes it to the
// server and lists it.
func (o *Org) Add(name string, fork bool, fill func(r *Repo)) *Repo {
	o.T.Helper()
	r := NewRepo(o.T)
	fill(r)
	o.Work[name] = r
	o.Push(name)
	var ex []map[string]any
	if err := json.Unmarshal(Examples(o.T)["GET /orgs/{org}/repos"], &ex); err != nil || len(ex) == 0 {
		o.T.Fatalf("official repository example: %v", err)
	}
	repo := ex[0]
	o.nextID++
	repo["id"], repo["name"], repo["full_name"] = o.nextID, name, o.Name+"/"+name
	repo["clone_url"] = o.Git.URL + o.Name + "/" + name + ".git"
	repo["fork"], repo["archived"], repo["size"] = fork, false, 100
	o.Repos = append(o.Repos, repo)
	o.Publish()
	return r
}

// Push mirrors the working clone of name to the server (a force-push when
// its history was rewritten).
func (o *Org) Push(name string) {
	o.T.Helper()
	dst := filepath.Join(o.Root, o.Name, name+".git")
	if _, err := os.Stat(dst); err != nil {
		if out, err := exec.Command("git", "init", "-q", "--bare", dst).CombinedOutput(); err != nil {
			o.T.Fatalf("%v %s", err, out)
		}
	}
	o.Work[name].Git("push", "-q", "--mirror", "--force", dst)
}

// Publish serves the current listing.
func (o *Org) Publish() { o.API.Replace("/orgs/{org}/repos", o.Repos) }

// Find returns the listed repository object called name.
func (o *Org) Find(name string) map[string]any {
	o.T.Helper()
	for _, r := range o.Repos {
		if r["name"] == name {
			return r
		}
	}
	o.T.Fatalf("no repository %s", name)
	return nil
}

// ID is the GitHub id of the repository called name.
func (o *Org) ID(name string) int64 { return o.Find(name)["id"].(int64) }

// Remove takes the repository called name out of the listing (deleted).
func (o *Org) Remove(name string) {
	var keep []map[string]any
	for _, r := range o.Repos {
		if r["name"] != name {
			keep = append(keep, r)
		}
	}
	o.Repos = keep
	o.Publish()
}
