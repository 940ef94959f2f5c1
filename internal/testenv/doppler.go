package testenv

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// No Doppler can be installed here, and Doppler's OpenAPI description
// (with its examples) is published only on its documentation site. Its
// official SDKs are generated from it: DopplerServer answers the v3 paths
// vigil's Doppler store calls from memory, and every body it sends is
// checked against the response types of the official Node SDK
// (@dopplerhq/node-sdk, fetched from the npm registry into .cache): a
// field the SDK does not declare fails the test. Paging is Doppler's
// (page and per_page; a short page is the last), errors its
// {"messages": [...], "success": false} bodies, throttling 429 with
// Retry-After.
type DopplerServer struct {
	URL   string
	Token string
	// Throttle answers 429 to the next Throttle requests; Forbidden is a
	// set of project slugs the token may not read (403).
	Throttle  int
	Forbidden map[string]bool

	t        testing.TB
	types    *SDKTypes
	mu       sync.Mutex
	projects []string
	configs  map[string][]DopplerConfig // by project
	requests []string
}

// DopplerConfig is one config of a project: its environment, whether it is
// the environment's root config, its secrets (name -> value) and service
// tokens.
type DopplerConfig struct {
	Name, Environment string
	Root              bool
	Secrets           map[string]string
	Tokens            []DopplerToken
}

// DopplerToken is a service token; Expires nil: it never expires.
type DopplerToken struct {
	Name    string
	Expires *time.Time
}

// DopplerNodeSDK is the official SDK whose types the server's answers are
// checked against.
const DopplerNodeSDK = "@dopplerhq/node-sdk@1.3.0"

// NewDopplerServer starts an empty Doppler for the test.
func NewDopplerServer(t testing.TB) *DopplerServer {
	t.Helper()
	d := &DopplerServer{Token: "dp.pt." + randFrom("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 43),
		Forbidden: map[string]bool{}, configs: map[string][]DopplerConfig{}, t: t, types: DopplerTypes(t)}
	srv := httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(srv.Close)
	d.URL = srv.URL
	return d
}

// Project adds a project with its configs.
func (d *DopplerServer) Project(slug string, configs ...DopplerConfig) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.configs[slug]; !ok {
		d.projects = append(d.projects, slug)
	}
	d.configs[slug] = append(d.configs[slug], configs...)
}

// Set sets a secret of a config of a project.
func (d *DopplerServer) Set(project, config, name, value string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.configs[project] {
		if c := &d.configs[project][i]; c.Name == config {
			if c.Secrets == nil {
				c.Secrets = map[string]string{}
			}
			c.Secrets[name] = value
			return
		}
	}
	d.t.Fatalf("doppler: no config %s/%s", project, config)
}

// Requests returns the paths requested so far, with their queries.
func (d *DopplerServer) Requests() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.requests...)
}

func (d *DopplerServer) fail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"messages": []string{msg}, "success": false})
}

func (d *DopplerServer) serve(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.requests = append(d.requests, r.URL.RequestURI())
	if r.Header.Get("Authorization") != "Bearer "+d.Token {
		d.fail(w, http.StatusUnauthorized, "Invalid Auth token")
		return
	}
	if d.Throttle > 0 {
		d.Throttle--
		w.Header().Set("Retry-After", "0")
		d.fail(w, http.StatusTooManyRequests, "Rate limit exceeded")
		return
	}
	q := r.URL.Query()
	page, per := atoiOr(q.Get("page"), 1), atoiOr(q.Get("per_page"), 20)
	pageOf := func(n int) (int, int) { return min((page-1)*per, n), min(page*per, n) }
	proj := q.Get("project")
	if proj != "" {
		if _, ok := d.configs[proj]; !ok {
			d.fail(w, http.StatusNotFound, "Could not find requested project")
			return
		}
		if d.Forbidden[proj] {
			d.fail(w, http.StatusForbidden, "You do not have access to this project")
			return
		}
	}
	var cfg *DopplerConfig
	if name := q.Get("config"); name != "" {
		for i := range d.configs[proj] {
			if d.configs[proj][i].Name == name {
				cfg = &d.configs[proj][i]
			}
		}
		if cfg == nil {
			d.fail(w, http.StatusNotFound, "Could not find requested config")
			return
		}
	}
	created := time.Now().Add(-60 * 24 * time.Hour).UTC().Format(time.RFC3339)
	var body any
	var sdkType string
	switch r.URL.Path {
	case "/v3/projects":
		sorted := append([]string(nil), d.projects...)
		sort.Strings(sorted)
		lo, hi := pageOf(len(sorted))
		ps := []map[string]any{}
		for _, p := range sorted[lo:hi] {
			ps = append(ps, map[string]any{"id": p, "slug": p, "name": p, "description": "", "created_at": created})
		}
		body, sdkType = map[string]any{"page": page, "projects": ps}, "ListResponse"
	case "/v3/configs":
		cs := d.configs[proj]
		lo, hi := pageOf(len(cs))
		out := []map[string]any{}
		for _, c := range cs[lo:hi] {
			out = append(out, map[string]any{"name": c.Name, "root": c.Root, "locked": c.Root, "initial_fetch_at": created, "last_fetch_at": created,
				"created_at": created, "environment": c.Environment, "project": proj})
		}
		body, sdkType = map[string]any{"page": page, "configs": out}, "ConfigsListResponse"
	case "/v3/configs/config/secrets/names":
		names := []string{}
		for n := range cfg.Secrets {
			names = append(names, n)
		}
		sort.Strings(names)
		body, sdkType = map[string]any{"names": names}, "NamesResponse"
	case "/v3/configs/config/secrets":
		secrets := map[string]any{}
		for n, v := range cfg.Secrets {
			secrets[n] = map[string]any{"raw": v, "computed": v, "note": "", "rawVisibility": "masked", "computedVisibility": "masked"}
		}
		body, sdkType = map[string]any{"secrets": secrets}, "SecretsListResponse"
	case "/v3/configs/config/tokens":
		ts := []map[string]any{}
		for _, tk := range cfg.Tokens {
			var exp any
			if tk.Expires != nil {
				exp = tk.Expires.UTC().Format(time.RFC3339)
			}
			ts = append(ts, map[string]any{"name": tk.Name, "slug": "st-" + strings.ToLower(tk.Name), "created_at": created, "config": cfg.Name,
				"environment": cfg.Environment, "project": proj, "expires_at": exp})
		}
		body, sdkType = map[string]any{"tokens": ts}, "ServiceTokensListResponse"
	default:
		d.fail(w, http.StatusNotFound, "Not found")
		return
	}
	if err := d.types.Check(sdkType, body, "secrets"); err != nil {
		d.t.Errorf("doppler test server: its answer to %s is not what %s declares: %v", r.URL.Path, DopplerNodeSDK, err)
	}
	writeJSON(w, http.StatusOK, body)
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return n
	}
	return def
}

// SDKTypes are the TypeScript declarations of an SDK (a .d.ts file): the
// field names of each interface, with those of the interfaces it refers to.
type SDKTypes struct {
	src string
}

var (
	sdkOnce  sync.Once
	sdkTypes *SDKTypes
	sdkErr   error
)

// DopplerTypes returns the official Node SDK's type declarations, fetched
// once from the npm registry into .cache (npm pack); in CI a failure to
// get them fails the test.
func DopplerTypes(t testing.TB) *SDKTypes {
	t.Helper()
	sdkOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		cache := filepath.Join(filepath.Dir(file), "..", "..", ".cache", "doppler-node-sdk-1.3.0.d.ts")
		if _, err := os.Stat(cache); err != nil {
			tmp, err := os.MkdirTemp("", "doppler-sdk")
			if err != nil {
				sdkErr = err
				return
			}
			defer os.RemoveAll(tmp)
			cmd := exec.Command("sh", "-c", "npm pack --silent "+DopplerNodeSDK+" >/dev/null && tar -xzf dopplerhq-node-sdk-*.tgz package/dist/index.d.ts")
			cmd.Dir = tmp
			if out, err := cmd.CombinedOutput(); err != nil {
				sdkErr = fmt.Errorf("npm pack %s: %v: %s", DopplerNodeSDK, err, out)
				return
			}
			os.MkdirAll(filepath.Dir(cache), 0o755)
			b, err := os.ReadFile(filepath.Join(tmp, "package", "dist", "index.d.ts"))
			if err == nil {
				err = os.WriteFile(cache, b, 0o644)
			}
			if err != nil {
				sdkErr = err
				return
			}
		}
		b, err := os.ReadFile(cache)
		sdkTypes, sdkErr = &SDKTypes{src: string(b)}, err
	})
	if sdkErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Doppler's SDK types are required in CI: %v", sdkErr)
		}
		t.Skipf("Doppler's SDK types unavailable: %v", sdkErr)
	}
	return sdkTypes
}

// tsField is one field line: its name, and its type when it is on the line
// (a nested object type opens a brace instead).
var tsField = regexp.MustCompile(`(?m)^\s*(\w+)\??\s*:\s*([^;\n]*)`)

// block is the body of interface name.
func (s *SDKTypes) block(name string) (string, bool) {
	i := strings.Index(s.src, "\ninterface "+name+" {")
	if i < 0 {
		return "", false
	}
	rest := s.src[i+len("\ninterface "+name+" {"):]
	depth := 1
	for j, r := range rest {
		switch r {
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				return rest[:j], true
			}
		}
	}
	return "", false
}

// Fields returns every field name interface name declares, at any depth,
// with those of the interfaces its fields are typed with.
func (s *SDKTypes) Fields(name string) (map[string]bool, error) {
	out := map[string]bool{}
	seen := map[string]bool{}
	var walk func(string) error
	walk = func(n string) error {
		if seen[n] {
			return nil
		}
		seen[n] = true
		b, ok := s.block(n)
		if !ok {
			return fmt.Errorf("no interface %s", n)
		}
		for _, m := range tsField.FindAllStringSubmatch(b, -1) {
			out[m[1]] = true
			typ := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(m[2]), ";"), "[]")
			if typ != "" && typ[0] >= 'A' && typ[0] <= 'Z' {
				if _, ok := s.block(typ); ok {
					if err := walk(typ); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	return out, walk(name)
}

// Check says whether every key of body (at any depth) is a field
// interface name declares; the keys directly under a key in mapKeys are
// names (a map), not fields.
func (s *SDKTypes) Check(name string, body any, mapKeys ...string) error {
	fields, err := s.Fields(name)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(body)
	var v any
	json.Unmarshal(b, &v)
	var bad []string
	var walk func(v any, isMap bool)
	walk = func(v any, isMap bool) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if !isMap && !fields[k] {
					bad = append(bad, k)
				}
				walk(c, !isMap && slices.Contains(mapKeys, k))
			}
		case []any:
			for _, c := range x {
				walk(c, false)
			}
		}
	}
	walk(v, false)
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("undeclared fields %v", bad)
	}
	return nil
}
