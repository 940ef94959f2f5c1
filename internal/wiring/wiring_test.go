package wiring

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/scanners"
	"github.com/vigilsec/vigil/scanners/githuborg"
)

func env(t *testing.T, yaml string, files map[string]string) *Env {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "vigil.yaml")
	os.WriteFile(p, []byte(yaml), 0o644)
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	st, h := testenv.Store(t)
	return New(cfg, st, h, nil, nil)
}

const ids = "identities:\n  - name: etl\n    kind: role\n    env: dev\n    grants:\n      - actions: [s3:GetObject]\n        resources: [\"*\"]\n"

// Declarations are read once per command, whoever asks.
func TestDeclarationsAreLoadedOnce(t *testing.T) {
	e := env(t, "rules:\n  identities: ids.yaml\n", map[string]string{"ids.yaml": ids})
	first, err := e.Identities()
	if err != nil || len(first) != 1 {
		t.Fatalf("%v %v", first, err)
	}
	os.Remove(e.Config.Rules.Identities)
	again, err := e.Identities()
	if err != nil || len(again) != 1 {
		t.Fatalf("identities read again: %v %v", again, err)
	}
}

// The run order is Order's whatever the config's, and a scanner asked for
// alone without its section is an error naming the section.
func TestScannersInOrderAndMissingSections(t *testing.T) {
	e := env(t, "rules:\n  identities: ids.yaml\ninventory:\n  files:\n    env: [\"conf/*.env\"]\n",
		map[string]string{"ids.yaml": ids, "conf/app.env": "DB_PASSWORD=x\n"})
	ctx := context.Background()
	scs, err := e.Scanners(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range scs {
		names = append(names, s.Name())
	}
	// No aws: section, no probes: iam and synthetic have nothing to do.
	if strings.Join(names, ",") != "leaks,inventory" {
		t.Fatalf("scanners %v", names)
	}
	for only, section := range map[string]string{"iam": "aws: section", "synthetic": "identities with probes"} {
		if _, err := e.Scanners(ctx, map[string]bool{only: true}); err == nil || !strings.Contains(err.Error(), section) {
			t.Errorf("--only %s: %v", only, err)
		}
	}
	// The inventory holds the files store the registry opened.
	inv, err := e.Inventory(ctx)
	if err != nil || len(inv.Stores) != 1 || inv.Stores[0].Name() != "file" {
		t.Fatalf("inventory stores: %+v %v", inv, err)
	}
}

// The IAM scanner asks GitHub for the organisation's OIDC subject template,
// and takes the CI secrets' names from this run's inventory listing rather
// than listing GitHub again.
func TestIAMReusesGitHubListing(t *testing.T) {
	gh := testenv.NewGitHubReplay(t)
	moto := testenv.Moto(t)
	e := env(t, "aws:\n  endpoint: "+moto+"\ninventory:\n  github:\n    - org: octo-org\n      base_url: "+gh.URL+"\n", nil)
	ctx := context.Background()
	inv, err := e.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := inv.Scan(ctx, nil, func(scanners.Result) {}); err != nil {
		t.Fatal(err)
	}
	listed := gh.Requests("/orgs/{org}/actions/secrets")
	if listed == 0 {
		t.Fatal("the inventory did not list GitHub")
	}
	s, err := e.IAM(ctx)
	if err != nil || s.CI == nil || s.Templates == nil {
		t.Fatalf("%v %+v", err, s)
	}
	creds, err := s.CI(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gh.Requests("/orgs/{org}/actions/secrets") != listed {
		t.Error("GitHub was listed a second time for the IAM scanner")
	}
	var names []string
	for _, c := range creds {
		names = append(names, c.Where)
	}
	if !strings.Contains(strings.Join(names, " "), "github:org/octo-org/actions/GH_TOKEN") {
		t.Errorf("CI credentials %v", names)
	}
	tm, err := s.Templates(ctx)
	if err != nil || strings.Join(tm["octo-org"], ",") != "repo,context" || gh.Requests("/orgs/{org}/actions/oidc/customization/sub") != 1 {
		t.Fatalf("templates %v %v", tm, err)
	}

	// Without the inventory in this process (vigil iam), GitHub is listed.
	e2 := env(t, "aws:\n  endpoint: "+moto+"\ninventory:\n  github:\n    - org: octo-org\n      base_url: "+gh.URL+"\n", nil)
	s2, err := e2.IAM(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if creds, err := s2.CI(ctx); err != nil || len(creds) == 0 || gh.Requests("/orgs/{org}/actions/secrets") == listed {
		t.Fatalf("%v %d", err, len(creds))
	}
}

// A GitHub secret-scanning alert that no vigil finding carries is a leak
// like the others: leak.live matches store values against its hash.
func TestLeakHashesIncludeGitHubAlerts(t *testing.T) {
	st, h := testenv.Store(t)
	ctx := context.Background()
	run, err := st.BeginRun(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	hash := h.Hash("aio_" + strings.Repeat("Z", 28))
	f := finding.Finding{ID: "alert-1", Kind: finding.KindLeakGitHubAlert, Severity: finding.Critical, Scanner: "leaks",
		Resource: "github-alert:acme/api#1", Title: "alert", Status: finding.StatusOpen,
		Evidence: finding.Evidence{finding.EvSecretHash: hash}}
	if _, err := st.Apply(ctx, run, store.Batch{Source: "github:acme:alerts", Mode: finding.Full, Findings: []finding.Finding{f}}); err != nil {
		t.Fatal(err)
	}
	got, err := leakHashes(st)(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l := got[hash]; len(l) != 1 || l[0].Kind != finding.KindLeakGitHubAlert {
		t.Fatalf("leak hashes: %+v", got)
	}
}

// The organisation scanner's alerts are matched against the stored open
// leak findings of the organisation's repositories, by place.
func TestLocatedReadsTheStore(t *testing.T) {
	st, _ := testenv.Store(t)
	ctx := context.Background()
	run, err := st.BeginRun(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	f := finding.Finding{ID: "leak-1", Kind: finding.KindLeakGit, Severity: finding.High, Scanner: "leaks",
		Resource: "repo:acme/api@abc:conf.ini:3", Title: "leak", Status: finding.StatusOpen, Evidence: finding.Evidence{},
		Location: &finding.Location{Repo: "acme/api", Commit: "abc", Path: "conf.ini", Line: 3}}
	other := f
	other.ID = "leak-2"
	for src, fs := range map[string][]finding.Finding{"git:github:acme/1001": {f}, "git:github:acme-two/7": {other}} {
		if _, err := st.Apply(ctx, run, store.Batch{Source: src, Mode: finding.Full, Findings: fs}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Located(st)(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[githuborg.LocationKey(1001, "abc", "conf.ini", 3)] != "leak-1" {
		t.Fatalf("located: %v", got)
	}
}
