package githuborg

import (
	"context"
	"fmt"
	"net/http"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/vigilsec/vigil/rules"
)

// Repo is what vigil keeps of one repository of the listing.
type Repo struct {
	ID         int64  `json:"id"`
	FullName   string `json:"full_name"`
	Name       string `json:"name"`
	CloneURL   string `json:"clone_url"`
	Fork       bool   `json:"fork,omitempty"`
	Archived   bool   `json:"archived,omitempty"`
	Visibility string `json:"visibility,omitempty"`
	Empty      bool   `json:"empty,omitempty"` // size 0: nothing to clone
}

// page is one page of the listing as it was last read, with its ETag: a
// conditional request answered 304 costs no rate limit and reuses it.
type page struct {
	ETag  string `json:"etag"`
	Next  bool   `json:"next"`
	Repos []Repo `json:"repos"`
}

// listing is the organisation's repositories, page by page.
type listing struct {
	Pages []page `json:"pages"`
}

// perPage is GitHub's largest page.
const perPage = 100

// maxPages bounds a listing (a million repositories, or alerts): a server
// that always says there is a next page must not keep a nightly job busy
// for ever.
const maxPages = 10000

// list reads the organisation's repositories, sorted by creation (oldest
// first, so that a new repository lands on the last page and the earlier
// pages keep their ETags), sending each page's stored ETag. It returns the
// new listing and how many pages were answered 304.
func (c *Client) list(ctx context.Context, org string, prev listing) (listing, int, error) {
	var out listing
	notModified := 0
	for n := 1; ; n++ {
		if n > maxPages {
			return out, notModified, fmt.Errorf("list repositories of %s: more than %d pages; the listing is not trusted", org, maxPages)
		}
		req, err := c.API.NewRequest(http.MethodGet,
			fmt.Sprintf("orgs/%s/repos?type=all&sort=created&direction=asc&per_page=%d&page=%d", org, perPage, n), nil)
		if err != nil {
			return out, notModified, err
		}
		var old *page
		if n <= len(prev.Pages) {
			old = &prev.Pages[n-1]
			if old.ETag != "" {
				req.Header.Set("If-None-Match", old.ETag)
			}
		}
		var repos []*gh.Repository
		resp, err := c.call(ctx, func() (*gh.Response, error) { return c.API.Do(ctx, req, &repos) })
		var p page
		switch {
		case resp != nil && resp.StatusCode == http.StatusNotModified && old != nil:
			p = *old
			notModified++
		case err != nil:
			return out, notModified, fmt.Errorf("list repositories of %s (page %d): %w", org, n, err)
		default:
			p = page{ETag: resp.Header.Get("ETag"), Next: resp.NextPage != 0}
			for _, r := range repos {
				p.Repos = append(p.Repos, Repo{
					ID: r.GetID(), FullName: r.GetFullName(), Name: r.GetName(), CloneURL: r.GetCloneURL(),
					Fork: r.GetFork(), Archived: r.GetArchived(), Visibility: visibility(r), Empty: r.Size != nil && r.GetSize() == 0,
				})
			}
		}
		out.Pages = append(out.Pages, p)
		if !p.Next {
			return out, notModified, nil
		}
	}
}

func visibility(r *gh.Repository) string {
	if v := r.GetVisibility(); v != "" {
		return v
	}
	if r.GetPrivate() {
		return "private"
	}
	return "public"
}

// Filter is which repositories of the listing are scanned.
type Filter struct {
	Include, Exclude []string
	Forks, Archived  bool
	Visibility       string // all, public, private
}

// Wants says whether r is scanned, and if not, why.
func (f Filter) Wants(r Repo) (bool, string) {
	switch {
	case r.Fork && !f.Forks:
		return false, "fork"
	case r.Archived && !f.Archived:
		return false, "archived"
	case f.Visibility == "public" && r.Visibility != "public",
		f.Visibility == "private" && r.Visibility == "public":
		return false, "visibility"
	}
	if len(f.Include) > 0 && !rules.MatchAny(f.Include, r.Name) {
		return false, "not included"
	}
	if rules.MatchAny(f.Exclude, r.Name) {
		return false, "excluded"
	}
	return true, ""
}

// known is what the organisation's state remembers of each repository ever
// scanned, so that a deleted one is noticed and a renamed one recognised.
type known struct {
	Name string `json:"name"`
	// Gone is when the repository was first missing from a complete
	// listing; zero while it exists.
	Gone time.Time `json:"gone,omitzero"`
}
