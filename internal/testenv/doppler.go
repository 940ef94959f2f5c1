package testenv

import (
	"encoding/json"
	"fmt"
	"maps"
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
	// MaxPerPage is the most items a page holds, whatever per_page asks
	// (default 20).
	MaxPerPage int

	t        testing.TB
	types    *SDKTypes
	mu       sync.Mutex
	projects []string
	configs  map[string][]DopplerConfig // by project
	logs     map[string][]*dopplerLog   // by PROJECT/CONFIG, oldest first
	requests []string
	seq      int
}

// dopplerLog is one config log: the secrets a change set, with their
// values before it (for a rollback).
type dopplerLog struct {
	id       string
	before   map[string]*string // nil: the secret did not exist
	after    map[string]string
	rollback bool
	at       time.Time
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
		MaxPerPage: 20, Forbidden: map[string]bool{}, configs: map[string][]DopplerConfig{}, logs: map[string][]*dopplerLog{}, t: t, types: DopplerTypes(t)}
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
	c := d.config(project, config)
	if c == nil {
		d.t.Fatalf("doppler: no config %s/%s", project, config)
	}
	d.change(project, c, map[string]string{name: value}, false)
}

// Value returns a secret's value ("" and false when there is none).
func (d *DopplerServer) Value(project, config, name string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c := d.config(project, config); c != nil {
		v, ok := c.Secrets[name]
		return v, ok
	}
	return "", false
}

func (d *DopplerServer) config(project, name string) *DopplerConfig {
	for i := range d.configs[project] {
		if d.configs[project][i].Name == name {
			return &d.configs[project][i]
		}
	}
	return nil
}

// change sets secrets of a config and records the config log.
func (d *DopplerServer) change(project string, c *DopplerConfig, set map[string]string, rollback bool) *dopplerLog {
	if c.Secrets == nil {
		c.Secrets = map[string]string{}
	}
	d.seq++
	l := &dopplerLog{id: fmt.Sprintf("log_%06d", d.seq), before: map[string]*string{}, after: set, rollback: rollback, at: time.Now().UTC()}
	for n, v := range set {
		if old, ok := c.Secrets[n]; ok {
			l.before[n] = &old
		} else {
			l.before[n] = nil
		}
		c.Secrets[n] = v
	}
	key := project + "/" + c.Name
	d.logs[key] = append(d.logs[key], l)
	return l
}

func (d *DopplerServer) logJSON(project string, c *DopplerConfig, l *dopplerLog, diff string) map[string]any {
	m := map[string]any{"id": l.id, "text": "changed secrets", "html": "<p>changed secrets</p>", "rollback": l.rollback,
		"created_at": l.at.Format(time.RFC3339), "config": c.Name, "environment": c.Environment, "project": project,
		"user": map[string]any{"email": "vigil@example.com", "name": "vigil", "username": "vigil", "profile_image_url": ""}}
	if diff != "" {
		var ds []map[string]any
		for _, n := range slices.Sorted(maps.Keys(l.after)) {
			// Doppler's diff names what changed; the test server never
			// sends a value back in it.
			ds = append(ds, map[string]any{"name": n, diff: ""})
		}
		m["diff"] = ds
	}
	return m
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
	// Doppler gives at most a page size of its own, whatever per_page asks.
	page, per := atoiOr(q.Get("page"), 1), min(atoiOr(q.Get("per_page"), 20), d.MaxPerPage)
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
	if r.Method == http.MethodPost {
		d.post(w, r, proj, cfg)
		return
	}
	switch r.URL.Path {
	case "/v3/configs/config/secret":
		v, ok := cfg.Secrets[q.Get("name")]
		if !ok {
			d.fail(w, http.StatusNotFound, "Could not find requested secret")
			return
		}
		body, sdkType = map[string]any{"name": q.Get("name"), "value": map[string]any{"raw": v, "computed": v, "note": ""}}, "SecretsGetResponse"
	case "/v3/configs/config/logs":
		logs := d.logs[proj+"/"+cfg.Name]
		newest := []map[string]any{}
		for i := len(logs) - 1; i >= 0; i-- {
			newest = append(newest, d.logJSON(proj, cfg, logs[i], ""))
		}
		lo, hi := pageOf(len(newest))
		body, sdkType = map[string]any{"page": page, "logs": newest[lo:hi]}, "ConfigLogsListResponse"
	case "/v3/configs/config/logs/log":
		for _, l := range d.logs[proj+"/"+cfg.Name] {
			if l.id == q.Get("log") {
				body, sdkType = map[string]any{"log": d.logJSON(proj, cfg, l, "added")}, "ConfigLogsGetResponse"
			}
		}
		if body == nil {
			d.fail(w, http.StatusNotFound, "Could not find requested log")
			return
		}
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
		for i, tk := range cfg.Tokens {
			var exp any
			if tk.Expires != nil {
				exp = tk.Expires.UTC().Format(time.RFC3339)
			}
			ts = append(ts, map[string]any{"name": tk.Name, "slug": fmt.Sprintf("st-%s-%d", strings.ToLower(tk.Name), i), "created_at": created, "config": cfg.Name,
				"environment": cfg.Environment, "project": proj, "expires_at": exp})
		}
		body, sdkType = map[string]any{"tokens": ts}, "ServiceTokensListResponse"
	default:
		d.fail(w, http.StatusNotFound, "Not found")
		return
	}
	d.reply(w, r, body, sdkType)
}

// post answers the two writes a rotation makes: a check-and-set change of
// secrets, and a config log's rollback.
func (d *DopplerServer) post(w http.ResponseWriter, r *http.Request, proj string, cfg *DopplerConfig) {
	var raw map[string]any
	if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
		d.fail(w, http.StatusBadRequest, "Invalid JSON body")
		return
	}
	switch r.URL.Path {
	case "/v3/configs/config/secrets":
		if err := d.types.Check("SecretsUpdateRequest", raw, "secrets"); err != nil {
			d.t.Errorf("doppler test server: a request to %s is not what %s declares: %v", r.URL.Path, DopplerNodeSDK, err)
		}
		proj, _ = raw["project"].(string)
		name, _ := raw["config"].(string)
		if cfg = d.config(proj, name); cfg == nil {
			d.fail(w, http.StatusNotFound, "Could not find requested config")
			return
		}
		reqs, _ := raw["change_requests"].([]any)
		set := map[string]string{}
		for _, x := range reqs {
			cr, _ := x.(map[string]any)
			n, _ := cr["name"].(string)
			v, _ := cr["value"].(string)
			if want, ok := cr["originalValue"].(string); ok && cfg.Secrets[n] != want {
				d.fail(w, http.StatusBadRequest, "The secret's value has changed since it was read")
				return
			}
			set[n] = v
		}
		if len(set) == 0 {
			d.fail(w, http.StatusBadRequest, "Either secrets or change_requests is required")
			return
		}
		d.change(proj, cfg, set, false)
		out := map[string]any{}
		for n, v := range cfg.Secrets {
			out[n] = map[string]any{"raw": v, "computed": v, "note": ""}
		}
		d.reply(w, r, map[string]any{"secrets": out}, "SecretsUpdateResponse")
	case "/v3/configs/config/logs/log/rollback":
		for _, l := range d.logs[proj+"/"+cfg.Name] {
			if l.id != r.URL.Query().Get("log") {
				continue
			}
			set := map[string]string{}
			for n, v := range l.before {
				if v == nil {
					delete(cfg.Secrets, n)
					continue
				}
				set[n] = *v
			}
			nl := d.change(proj, cfg, set, true)
			d.reply(w, r, map[string]any{"log": d.logJSON(proj, cfg, nl, "removed")}, "RollbackResponse")
			return
		}
		d.fail(w, http.StatusNotFound, "Could not find requested log")
	default:
		d.fail(w, http.StatusNotFound, "Not found")
	}
}

// reply sends body after checking it against the SDK's type.
func (d *DopplerServer) reply(w http.ResponseWriter, r *http.Request, body any, sdkType string) {
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
		// Named by the package and version, so that a new version is fetched.
		name := strings.NewReplacer("/", "-", "@", "-").Replace(strings.TrimPrefix(DopplerNodeSDK, "@")) + ".d.ts"
		cache := filepath.Join(filepath.Dir(file), "..", "..", ".cache", name)
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
