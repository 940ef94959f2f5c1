package githuborg

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners"
	"github.com/vigilsec/vigil/scanners/leaks"
)

type night struct {
	bySource map[string]scanners.Result
	all      []scanners.Result
}

func (n night) repo(t *testing.T, o *testenv.Org, name string) scanners.Result {
	t.Helper()
	r, ok := n.bySource["git:"+SourceName("acme", o.ID(name))]
	if !ok {
		t.Fatalf("no result for %s", name)
	}
	return r
}

func newScanner(t *testing.T, client *Client) *Scanner {
	h, err := secrethash.New([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := leaks.NewEngine("", "", h, rules.DefaultControls())
	if err != nil {
		t.Fatal(err)
	}
	ls := leaks.New(eng, leaks.Options{CacheDir: t.TempDir(), Log: slog.New(slog.DiscardHandler)})
	op := &open{}
	s := &Scanner{Leaks: ls, Controls: rules.DefaultControls(), Located: op.located,
		Orgs: []Org{{Name: "acme", Client: client, Filter: Filter{Forks: true, Archived: true, Visibility: "all"}, Alerts: true, Workers: 3}}}
	opens[s] = op
	return s
}

// open is the open leak findings by source, kept from results as the
// store keeps them; it answers Located as wiring's store query does.
type open struct {
	mu sync.Mutex
	m  map[string]map[string]finding.Finding
}

func (o *open) keep(r scanners.Result) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[string]map[string]finding.Finding{}
	}
	src := r.Source.String()
	if r.Mode == scanners.Full || o.m[src] == nil {
		o.m[src] = map[string]finding.Finding{}
	}
	for _, f := range r.Findings {
		o.m[src][f.ID] = f
	}
}

func (o *open) located(_ context.Context, org string) (map[string]string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]string{}
	for src, fs := range o.m {
		idText, ok := strings.CutPrefix(src, "git:github:"+org+"/")
		if !ok {
			continue
		}
		id, _ := strconv.ParseInt(idText, 10, 64)
		for _, f := range fs {
			if f.Location != nil {
				out[LocationKey(id, f.Location.Commit, f.Location.Path, f.Location.Line)] = f.ID
			}
		}
	}
	return out, nil
}

// opens is each test scanner's open findings.
var opens = map[*Scanner]*open{}

// keeping is a scanner whose results are kept in its open findings as
// they are emitted, as the runner stores them.
type keeping struct {
	*Scanner
	open *open
}

func (k keeping) Scan(ctx context.Context, st scanners.StateReader, emit func(scanners.Result)) error {
	return k.Scanner.Scan(ctx, st, func(r scanners.Result) {
		k.open.keep(r)
		emit(r)
	})
}

// run is one night: the scanner's results, their states kept as the
// store keeps them, and its open findings for the alerts' matching.
func run(t *testing.T, s *Scanner, st *testenv.States) night {
	t.Helper()
	n := night{bySource: map[string]scanners.Result{}}
	n.all = st.Scan(t, keeping{s, opens[s]})
	for _, r := range n.all {
		n.bySource[r.Source.String()] = r
	}
	return n
}

func awsLine(k string) string { return fmt.Sprintf("aws_access_key_id = %q\n", k) }

// TestOrganisationNights runs the nights of an organisation's life against
// the real git server and GitHub's examples: the first scan, a night with
// no change (no fetch), a push, a new repository, a force-push, a rename, a
// deletion, a repository that fails to clone, and rate limits, with the
// token never in a result or a process's argument list.
func TestOrganisationNights(t *testing.T) {
	token := "ghp_" + strings.Repeat("Q", 36)
	o := testenv.NewOrg(t, "acme", func(u, p string) bool { return u == "x-access-token" && p == token })
	apiLeak, forkLeak := testenv.FakeAWSKey(), testenv.FakeAWSKey()
	var apiCommit string
	o.Add("api", false, func(r *testenv.Repo) {
		r.Commit("init", map[string]string{"README.md": "api\n"})
		apiCommit = r.Commit("config", map[string]string{"conf/app.ini": awsLine(apiLeak)})
		r.Git("tag", "-a", "v1", "-m", "release")
	})
	o.Add("etl", false, func(r *testenv.Repo) { r.Commit("init", map[string]string{"etl.py": "print(1)\n"}) })
	o.Add("api-fork", true, func(r *testenv.Repo) {
		r.Git("pull", "-q", o.Work["api"].Dir, "main")
		r.Commit("fork work", map[string]string{"fork.ini": awsLine(forkLeak)})
	})
	o.Add("broken", false, func(r *testenv.Repo) { r.Commit("init", nil) })
	o.Find("broken")["clone_url"] = o.Git.URL + "acme/missing.git"
	o.Publish()

	// Two open alerts from GitHub's example: one where vigil finds the api
	// leak, one vigil's rules don't see.
	var alertEx []map[string]any
	_ = json.Unmarshal(testenv.Examples(t)["GET /orgs/{org}/secret-scanning/alerts"], &alertEx)
	other := "aio_" + strings.Repeat("Z", 28)
	mk := func(n int, repo map[string]any, secret, commit, path string) map[string]any {
		b, _ := json.Marshal(alertEx[0])
		var a map[string]any
		_ = json.Unmarshal(b, &a)
		a["number"], a["state"], a["secret"], a["validity"] = n, "open", secret, "active"
		a["repository"].(map[string]any)["id"] = repo["id"]
		a["repository"].(map[string]any)["full_name"] = repo["full_name"]
		a["first_location_detected"].(map[string]any)["commit_sha"] = commit
		a["first_location_detected"].(map[string]any)["path"] = path
		a["first_location_detected"].(map[string]any)["start_line"] = 1
		return a
	}
	o.API.Replace("/orgs/{org}/secret-scanning/alerts", []any{
		mk(1, o.Find("api"), apiLeak, apiCommit, "conf/app.ini"),
		mk(2, o.Find("etl"), other, apiCommit, "notes.txt"),
	})

	client, err := NewClient(o.API.URL, Auth{Token: token}, 2, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := newScanner(t, client)
	st := &testenv.States{}

	// Every process vigil starts is watched for the token on its command line.
	stopWatch := testenv.WatchCmdlines(t, token)

	// Night 1: everything is new.
	n := run(t, s, st)
	disc := n.bySource["github:acme"]
	if disc.Err != nil || disc.Mode != scanners.Full {
		t.Fatalf("discovery: %v %v", disc.Mode, disc.Err)
	}
	api := n.repo(t, o, "api")
	if api.Err != nil || api.Mode != scanners.Full || len(api.Findings) != 1 {
		t.Fatalf("api: mode %v err %v findings %d", api.Mode, api.Err, len(api.Findings))
	}
	f := api.Findings[0]
	if f.Location.Repo != "acme/api" || f.Evidence["github_alert"] != 1 || f.Evidence["github_alert_validity"] != "active" {
		t.Errorf("api finding: repo %q, evidence %v", f.Location.Repo, f.Evidence)
	}
	// The fork shares api's history: it reads only its own commit, and the
	// shared leak is still its finding (its id, its name).
	fork := n.repo(t, o, "api-fork")
	if fork.Err != nil || fork.Mode != scanners.Full || len(fork.Findings) != 2 || fork.Stats.Commits != 1 {
		t.Errorf("fork: err %v mode %v, %d findings (want its own and the shared one), %d commits read (want 1)", fork.Err, fork.Mode, len(fork.Findings), fork.Stats.Commits)
	}
	for _, ff := range fork.Findings {
		if ff.Location.Repo != "acme/api-fork" || ff.Source != fork.Source.String() || ff.ID == f.ID {
			t.Errorf("fork finding not the fork's own: repo %q source %q", ff.Location.Repo, ff.Source)
		}
	}
	if b := n.repo(t, o, "broken"); b.Mode != scanners.Partial || b.Err == nil || !strings.Contains(b.Err.Error(), "missing.git") {
		t.Errorf("broken: mode %v err %v", b.Mode, b.Err)
	}
	al := n.bySource["github:acme:alerts"]
	if al.Err != nil || len(al.Findings) != 1 || al.Findings[0].Kind != finding.KindLeakGitHubAlert {
		t.Fatalf("alerts: err %v findings %+v", al.Err, al.Findings)
	}
	if al.Findings[0].Evidence[finding.EvSecretHash] != s.Leaks.Engine.Hasher.Hash(other) || al.Findings[0].Severity != finding.Critical {
		t.Errorf("alert finding evidence %v severity %v", al.Findings[0].Evidence, al.Findings[0].Severity)
	}

	// Night 2: nothing changed. One ls-remote per repository, no fetch,
	// and the listing's pages answered 304.
	o.Git.Reset()
	n = run(t, s, st)
	for _, name := range []string{"api", "etl", "api-fork"} {
		r := n.repo(t, o, name)
		if r.Mode != scanners.Incremental || r.Err != nil || len(r.Findings) != 0 || r.Stats.Commits != 0 || r.Stats.Fetches != 0 {
			t.Errorf("%s on a quiet night: mode %v err %v findings %d commits %d fetches %d", name, r.Mode, r.Err, len(r.Findings), r.Stats.Commits, r.Stats.Fetches)
		}
		if got := o.Git.Fetches("acme/" + name); got != 0 {
			t.Errorf("%s: %d fetches on a night with no change", name, got)
		}
	}
	if o.API.NotModified("/orgs/{org}/repos") == 0 {
		t.Errorf("the unchanged listing was not answered 304")
	}
	if al := n.bySource["github:acme:alerts"]; len(al.Findings) != 1 {
		t.Errorf("alerts on a quiet night: %d findings, want the unmatched one only (the matched one is carried by vigil's finding)", len(al.Findings))
	}

	// Night 3: a push to etl, a new repository, and the listing throttled
	// (secondary limit, Retry-After) then at its primary limit (reset).
	etlLeak := testenv.FakeGitHubToken()
	o.Work["etl"].Commit("oops", map[string]string{"run.sh": "GH_TOKEN=" + etlLeak + "\n"})
	o.Push("etl")
	o.Add("new", false, func(r *testenv.Repo) { r.Commit("init", map[string]string{"k.ini": awsLine(testenv.FakeAWSKey())}) })
	o.API.Throttle("/orgs/{org}/repos", 1)
	o.API.PrimaryLimit("/orgs/{org}/secret-scanning/alerts", 1, time.Now().Add(2*time.Second))
	o.Git.Reset()
	n = run(t, s, st)
	if d := n.bySource["github:acme"]; d.Err != nil || d.Mode != scanners.Full {
		t.Fatalf("discovery after throttling: %v %v", d.Mode, d.Err)
	}
	if al := n.bySource["github:acme:alerts"]; al.Err != nil {
		t.Errorf("alerts after the primary limit's reset: %v", al.Err)
	}
	if etl := n.repo(t, o, "etl"); etl.Mode != scanners.Incremental || len(etl.Findings) != 1 || etl.Stats.Commits != 1 {
		t.Errorf("etl after a push: mode %v, %d findings, %d commits", etl.Mode, len(etl.Findings), etl.Stats.Commits)
	}
	if nw := n.repo(t, o, "new"); nw.Mode != scanners.Full || len(nw.Findings) != 1 {
		t.Errorf("new repository: mode %v, %d findings", nw.Mode, len(nw.Findings))
	}
	if got := o.Git.Fetches("acme/api"); got != 0 {
		t.Errorf("api fetched %d times though only etl changed", got)
	}
	if got := o.Git.Fetches("acme/etl"); got != 1 {
		t.Errorf("etl fetched %d times after a push, want 1", got)
	}

	// Night 4: etl force-pushed (its leak rewritten away), api renamed.
	o.Work["etl"].Git("reset", "-q", "--hard", "HEAD~1")
	o.Work["etl"].Commit("clean", map[string]string{"run.sh": "GH_TOKEN=from-vault\n"})
	o.Push("etl")
	if err := os.Rename(filepath.Join(o.Root, "acme", "api.git"), filepath.Join(o.Root, "acme", "platform-api.git")); err != nil {
		t.Fatal(err)
	}
	apiRepo := o.Find("api")
	apiRepo["name"], apiRepo["full_name"], apiRepo["clone_url"] = "platform-api", "acme/platform-api", o.Git.URL+"acme/platform-api.git"
	o.Publish()
	n = run(t, s, st)
	if etl := n.repo(t, o, "etl"); etl.Mode != scanners.Full || len(etl.Findings) != 0 {
		t.Errorf("etl after a force-push: mode %v (want full, so the rewritten-away leak resolves), %d findings", etl.Mode, len(etl.Findings))
	}
	if r := n.repo(t, o, "platform-api"); r.Err != nil || r.Source.Name != SourceName("acme", apiRepo["id"].(int64)) {
		t.Errorf("renamed repository: %v, source %v", r.Err, r.Source)
	}

	// Night 5: api-fork deleted from the organisation. Its findings are not
	// resolved (no result for its source) and the deletion is reported.
	forkID := o.ID("api-fork")
	o.Remove("api-fork")
	n = run(t, s, st)
	if _, ok := n.bySource["git:"+SourceName("acme", forkID)]; ok {
		t.Errorf("the deleted repository's source got a result (it would resolve its findings)")
	}
	d := n.bySource["github:acme"]
	if len(d.Findings) != 1 || d.Findings[0].Kind != finding.KindLeakRepoDeleted || d.Findings[0].Evidence["repository"] != "acme/api-fork" {
		t.Errorf("deletion findings: %+v", d.Findings)
	}

	stopWatch()
	// Nothing vigil produced holds the token or a planted value.
	b, _ := json.Marshal(n.all)
	all := string(b)
	for _, state := range st.All() {
		all += state
	}
	cache, err := os.ReadFile(filepath.Join(s.Leaks.CacheDir, "github", "shared-history.jsonl"))
	if err != nil || len(cache) == 0 {
		t.Fatalf("shared-history cache: %v", err)
	}
	all += string(cache)
	for _, secret := range []string{token, apiLeak, forkLeak, other, etlLeak} {
		if strings.Contains(all, secret) {
			t.Errorf("a result or state holds a secret (%s...)", secret[:6])
		}
	}
	for _, r := range n.all {
		if r.Err != nil && strings.Contains(r.Err.Error(), token) {
			t.Errorf("an error holds the token")
		}
	}
}

// TestAppInstallationTokenReminted authenticates as a GitHub App, and the
// installation token expires in the middle of a run: after the first
// repository is stored, the git server refuses every token minted so far,
// and the second repository's clone must get a fresh one from the App key
// (minted through GitHub's own access-token example), never the old one.
func TestAppInstallationTokenReminted(t *testing.T) {
	var mu sync.Mutex
	valid := map[string]bool{}
	mints := 0
	o := testenv.NewOrg(t, "acme", func(u, p string) bool {
		mu.Lock()
		defer mu.Unlock()
		return u == "x-access-token" && valid[p]
	})
	// GitHub's answer says the token expires in 61 s: ghinstallation
	// re-mints a minute before expiry, so after one second it asks again.
	o.API.Mint = func() (string, time.Time) {
		mu.Lock()
		defer mu.Unlock()
		mints++
		tok := fmt.Sprintf("ghs_%036d", mints)
		valid[tok] = true
		return tok, time.Now().Add(61 * time.Second)
	}
	o.Add("a", false, func(r *testenv.Repo) { r.Commit("init", map[string]string{"a.py": "print(1)\n"}) })
	leak := testenv.FakeGitHubToken()
	o.Add("b", false, func(r *testenv.Repo) { r.Commit("init", map[string]string{"run.sh": "GH_TOKEN=" + leak + "\n"}) })

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "app.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(keyFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	client, err := NewClient(o.API.URL, Auth{App: &App{AppID: 1, InstallationID: 42, PrivateKeyFile: keyFile}}, 2, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := newScanner(t, client)
	s.Orgs[0].Alerts, s.Orgs[0].Workers = false, 1
	got := map[string]scanners.Result{}
	err = s.Scan(context.Background(), &testenv.States{}, func(r scanners.Result) {
		got[r.Source.String()] = r
		if r.Source.String() == "git:"+SourceName("acme", o.ID("a")) {
			time.Sleep(1100 * time.Millisecond) // into ghinstallation's refresh window
			mu.Lock()
			for tok := range valid {
				valid[tok] = false // expired, as far as the git server knows
			}
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	a, b := got["git:"+SourceName("acme", o.ID("a"))], got["git:"+SourceName("acme", o.ID("b"))]
	if a.Err != nil || b.Err != nil || len(b.Findings) != 1 {
		t.Fatalf("a: %v; b (after the token expired): %v, %d findings", a.Err, b.Err, len(b.Findings))
	}
	mu.Lock()
	defer mu.Unlock()
	if mints < 2 {
		t.Errorf("%d installation tokens minted, want a fresh one after the first expired", mints)
	}
	if o.API.Requests("/app/installations/{installation_id}/access_tokens") != mints {
		t.Errorf("mints and access_tokens requests differ")
	}
}

// TestCheck is the doctor's view: the listing and the alerts answer on the
// replay server; a server that is gone is an error, not a pass.
func TestCheck(t *testing.T) {
	o := testenv.NewOrg(t, "acme", func(string, string) bool { return true })
	c, err := NewClient(o.API.URL, Auth{Token: "t"}, 1, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if repos, alerts := c.Check(context.Background(), "acme", true); repos != nil || alerts != nil {
		t.Fatalf("check against the replay server: %v, %v", repos, alerts)
	}
	gone, err := NewClient("http://127.0.0.1:1", Auth{Token: "t"}, 1, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if repos, _ := gone.Check(context.Background(), "acme", false); repos == nil || !strings.Contains(repos.Error(), "connection refused") {
		t.Fatalf("check against nothing: %v", repos)
	}
}

// TestShardedOrganisation: two shards of one run divide the organisation's
// repositories (each scanned once, by one of them), one of them keeps the
// listing, neither reports the alerts; the run's last step reports them,
// matched against what both shards found.
func TestShardedOrganisation(t *testing.T) {
	token := "ghp_" + strings.Repeat("S", 36)
	o := testenv.NewOrg(t, "acme", func(u, p string) bool { return u == "x-access-token" && p == token })
	var commits []string
	keys := map[string]string{}
	for i := 0; i < 8; i++ {
		name := fmt.Sprintf("r%d", i)
		key := testenv.FakeAWSKey()
		keys[name] = key
		o.Add(name, false, func(r *testenv.Repo) {
			commits = append(commits, r.Commit("leak", map[string]string{"k.ini": awsLine(key)}))
		})
	}
	var alertEx []map[string]any
	_ = json.Unmarshal(testenv.Examples(t)["GET /orgs/{org}/secret-scanning/alerts"], &alertEx)
	var alerts []any
	for i := 0; i < 8; i++ {
		b, _ := json.Marshal(alertEx[0])
		var a map[string]any
		_ = json.Unmarshal(b, &a)
		repo := o.Find(fmt.Sprintf("r%d", i))
		a["number"], a["state"], a["secret"], a["validity"] = i+1, "open", keys[fmt.Sprintf("r%d", i)], "active"
		a["repository"].(map[string]any)["id"] = repo["id"]
		a["repository"].(map[string]any)["full_name"] = repo["full_name"]
		a["first_location_detected"].(map[string]any)["commit_sha"] = commits[i]
		a["first_location_detected"].(map[string]any)["path"] = "k.ini"
		a["first_location_detected"].(map[string]any)["start_line"] = 1
		alerts = append(alerts, a)
	}
	o.API.Replace("/orgs/{org}/secret-scanning/alerts", alerts)
	client, err := NewClient(o.API.URL, Auth{Token: token}, 2, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := newScanner(t, client)
	st := &testenv.States{}
	k := keeping{s, opens[s]}
	scanned := map[string]int{}
	discovery, alertResults := 0, 0
	for shard := 0; shard < 2; shard++ {
		ctx := scanners.WithShard(context.Background(), scanners.Shard{I: shard, N: 2})
		err := k.Scan(ctx, st, func(r scanners.Result) {
			switch {
			case r.Source.Scanner == "git":
				scanned[r.Source.Name]++
				if len(r.Findings) != 1 {
					t.Errorf("%s: %d findings", r.Source, len(r.Findings))
				}
			case r.Source.Part == "alerts":
				alertResults++
			default:
				discovery++
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(scanned) != 8 || discovery != 1 || alertResults != 0 {
		t.Fatalf("shards: %d repositories scanned (%v), listing kept %d times, alerts reported %d times by shards", len(scanned), scanned, discovery, alertResults)
	}
	for name, n := range scanned {
		if n != 1 {
			t.Errorf("%s scanned %d times", name, n)
		}
	}
	var final []scanners.Result
	if err := k.Scan(scanners.WithFinalizing(context.Background()), st, func(r scanners.Result) { final = append(final, r) }); err != nil {
		t.Fatal(err)
	}
	if len(final) != 1 || final[0].Source.Part != "alerts" || final[0].Err != nil || len(final[0].Findings) != 0 {
		t.Fatalf("the last step: %+v (want the alerts, every one matched by a shard's finding)", final)
	}
}
