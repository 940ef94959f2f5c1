package testenv

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	op "github.com/1Password/connect-sdk-go/onepassword"
)

// No 1Password Connect server can be installed here (it syncs from
// 1Password.com). OnePasswordConnect answers the three GETs of the Connect
// API (1Password's published OpenAPI description, docs/openapi/spec.yaml
// of github.com/1Password/connect) from memory: bodies are the official
// connect-sdk-go types (onepassword.Vault, onepassword.Item) encoded as
// JSON; a vault's item list carries no fields (the spec's Item, not
// FullItem); errors are the spec's {"status", "message"} bodies with its
// messages (401 "Invalid token signature", 403 "vault ... is not in
// scope", 404 "vault ... not found"); throttling is 429 with Retry-After.
type OnePasswordConnect struct {
	URL   string
	Token string
	// Throttle answers 429 to the next Throttle requests; OutOfScope is a
	// set of vault ids the token may not read (403).
	Throttle   int
	OutOfScope map[string]bool

	mu       sync.Mutex
	vaults   []op.Vault
	items    map[string][]*op.Item // by vault id
	requests []string
}

// NewOnePasswordConnect starts an empty Connect server for the test.
func NewOnePasswordConnect(t testing.TB) *OnePasswordConnect {
	t.Helper()
	c := &OnePasswordConnect{Token: "connect-" + randFrom("abcdefghijklmnopqrstuvwxyz0123456789", 24), OutOfScope: map[string]bool{}, items: map[string][]*op.Item{}}
	srv := httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// opID is a Connect id: 26 lower-case letters and digits.
func opID() string { return randFrom("abcdefghijklmnopqrstuvwxyz0123456789", 26) }

// Vault adds a vault and returns its id.
func (c *OnePasswordConnect) Vault(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := op.Vault{ID: opID(), Name: name, Type: "USER_CREATED", CreatedAt: time.Now().Add(-90 * 24 * time.Hour).UTC(), UpdatedAt: time.Now().UTC()}
	c.vaults = append(c.vaults, v)
	return v.ID
}

// Item adds an item to a vault; its id, vault, version and dates are set
// here. It returns the stored item (a test may change it).
func (c *OnePasswordConnect) Item(vaultID string, it op.Item) *op.Item {
	c.mu.Lock()
	defer c.mu.Unlock()
	it.ID, it.Vault = opID(), op.ItemVault{ID: vaultID}
	if it.Version == 0 {
		it.Version = 1
	}
	if it.CreatedAt.IsZero() {
		it.CreatedAt = time.Now().Add(-30 * 24 * time.Hour).UTC()
	}
	if it.UpdatedAt.IsZero() {
		it.UpdatedAt = it.CreatedAt
	}
	for _, f := range it.Fields {
		if f.ID == "" {
			f.ID = opID()
		}
	}
	c.items[vaultID] = append(c.items[vaultID], &it)
	return &it
}

// Requests returns the paths requested so far.
func (c *OnePasswordConnect) Requests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.requests...)
}

func (c *OnePasswordConnect) serve(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests = append(c.requests, r.URL.Path)
	fail := func(status int, msg string) { writeJSON(w, status, op.Error{StatusCode: status, Message: msg}) }
	if r.Header.Get("Authorization") != "Bearer "+c.Token {
		fail(http.StatusUnauthorized, "Invalid token signature")
		return
	}
	if c.Throttle > 0 {
		c.Throttle--
		w.Header().Set("Retry-After", "0")
		fail(http.StatusTooManyRequests, "Too Many Requests")
		return
	}
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(segs) < 2 || segs[0] != "v1" || segs[1] != "vaults" || r.Method != http.MethodGet {
		fail(http.StatusNotFound, "not found")
		return
	}
	if len(segs) == 2 {
		vs := append([]op.Vault(nil), c.vaults...)
		sort.Slice(vs, func(i, j int) bool { return vs[i].ID < vs[j].ID })
		writeJSON(w, http.StatusOK, vs)
		return
	}
	vid := segs[2]
	if c.OutOfScope[vid] {
		fail(http.StatusForbidden, "vault "+vid+" is not in scope")
		return
	}
	items, ok := c.items[vid]
	if !ok && !c.hasVault(vid) {
		fail(http.StatusNotFound, "vault "+vid+" not found")
		return
	}
	switch {
	case len(segs) == 4 && segs[3] == "items":
		out := []op.Item{}
		for _, it := range items {
			sum := *it
			sum.Fields, sum.Sections, sum.Files = nil, nil, nil // a summary: no fields
			out = append(out, sum)
		}
		writeJSON(w, http.StatusOK, out)
	case len(segs) == 5 && segs[3] == "items":
		for _, it := range items {
			if it.ID == segs[4] {
				writeJSON(w, http.StatusOK, it)
				return
			}
		}
		fail(http.StatusNotFound, "item "+segs[4]+" not found")
	default:
		fail(http.StatusNotFound, "not found")
	}
}

func (c *OnePasswordConnect) hasVault(id string) bool {
	for _, v := range c.vaults {
		if v.ID == id {
			return true
		}
	}
	return false
}
