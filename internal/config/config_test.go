package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadResolvesPathsAndDefaults(t *testing.T) {
	p := write(t, `
sources:
  git:
    - path: repos/payments
  dirs:
    - name: cfg
      path: /etc/app
  logs:
    - paths: ["logs/*.log", "logs/*.gz"]
`)
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(p)
	if got, want := cfg.Sources.Git[0].Path, filepath.Join(dir, "repos/payments"); got != want {
		t.Errorf("git path %q, want %q", got, want)
	}
	if cfg.Sources.Git[0].Name != "payments" {
		t.Errorf("default name %q", cfg.Sources.Git[0].Name)
	}
	if cfg.Sources.Dirs[0].Path != "/etc/app" {
		t.Errorf("absolute path changed: %q", cfg.Sources.Dirs[0].Path)
	}
	if cfg.DB != filepath.Join(dir, "vigil.db") || cfg.FailOn != "high" {
		t.Errorf("defaults: db=%q fail_on=%q", cfg.DB, cfg.FailOn)
	}
	if cfg.Sources.Git[0].Line != 4 || cfg.Sources.Logs[0].Line != 9 {
		t.Errorf("lines: git %d logs %d", cfg.Sources.Git[0].Line, cfg.Sources.Logs[0].Line)
	}
}

func TestLoadErrorsNameFileAndLine(t *testing.T) {
	cases := []struct {
		name, body, want string
	}{
		{"syntax", "version: 1\nsources:\n  git:\n    - path: a\n      name: b: c\n", ":5: mapping values are not allowed"},
		{"unknown top field", "version: 1\nsauces: {}\n", ":2: field sauces not found"},
		{"unknown nested field", "sources:\n  git:\n    - path: a\n      branch: main\n", ":4: field branch not found"},
		{"missing path", "sources:\n  dirs:\n    - name: x\n", ":3: sources.dirs[0]: path is required"},
		{"path and url", "sources:\n  git:\n    - path: a\n      url: https://example.invalid/a.git\n", ":3: sources.git[0]: give a path or a url, not both"},
		{"duplicate name", "sources:\n  dirs:\n    - {name: a, path: x}\n    - {name: a, path: y}\n", ":4: dir source name \"a\" is already used on line 3"},
		{"bad glob", "sources:\n  logs:\n    - paths: [\"[\"]\n", ":3: sources.logs[0].paths[0]: bad glob"},
		{"bad severity", "fail_on: urgent\n", "fail_on: not a severity"},
		{"type error names no Go type nor value", "sources:\n  dirs:\n    - name: x\n      path: [a]\n", ":4: expected a string, found a list"},
		{"unknown field names no Go type", "sources:\n  git:\n    - path: a\n      brnch: x\n", ":4: field brnch not found"},
		{"only ---", "---\n", "the document is empty"},
		{"second document", "version: 1\n---\nsources: {}\n", ":2: a second YAML document"},
		{"null git", "sources:\n  git:\n", ":2: git has no value"},
		{"null git entry", "sources:\n  git:\n    -\n", ":3: empty list entry"},
		{"negative workers", "synthetic:\n  workers: -5\n", "synthetic.workers must not be negative"},
		{"negative lease", "lease_ttl: -1s\n", "lease_ttl must be at least 1s"},
		{"empty", "", "file is empty"},
		{"gitlab without groups", "inventory:\n  gitlab:\n    - url: https://gitlab.example.com\n", "inventory.gitlab[0]: give groups"},
		{"gitlab url with credentials", "inventory:\n  gitlab:\n    - {url: \"https://u:glpat-s3cr3t@gitlab.example.com\", groups: [acme]}\n", "inventory.gitlab[0]: url must be"},
		{"gitlab group with a key", "inventory:\n  gitlab:\n    - {groups: [\"acme/app/KEY@prod\"]}\n", "is not a group's full path"},
		{"gitlab group twice", "inventory:\n  gitlab:\n    - {groups: [acme]}\n    - {url: https://gitlab.example.com, groups: [acme]}\n", "group \"acme\" is listed twice"},
		{"1password without name", "inventory:\n  onepassword:\n    - url: http://connect:8080\n", "inventory.onepassword[0]: name is required"},
		{"1password url with token", "inventory:\n  onepassword:\n    - {name: ops, url: \"http://tok:s3cr3t@connect:8080\"}\n", "inventory.onepassword[0] (ops): url must be"},
		{"1password bad vault glob", "inventory:\n  onepassword:\n    - {name: ops, url: \"http://connect:8080\", vaults: [\"[\"]}\n", "inventory.onepassword[0].vaults[0]: bad glob"},
		{"doppler without name", "inventory:\n  doppler:\n    - projects: [etl]\n", "inventory.doppler[0]: name is required"},
		{"doppler url with token", "inventory:\n  doppler:\n    - {name: dp, api_url: \"https://dp.st.s3cr3t@api.doppler.com\"}\n", "inventory.doppler[0] (dp): api_url must be"},
		{"key vault without name", "inventory:\n  azure_keyvault:\n    - vault_url: https://kv.vault.azure.net\n", "inventory.azure_keyvault[0]: name is required"},
		{"key vault over http", "inventory:\n  azure_keyvault:\n    - {name: kv, vault_url: \"http://kv.vault.azure.net\"}\n", "vault_url must be https://"},
		{"key vault url with credentials", "inventory:\n  azure_keyvault:\n    - {name: kv, vault_url: \"https://u:s3cr3t@kv.vault.azure.net\"}\n", "inventory.azure_keyvault[0] (kv): vault_url must be"},
		{"github org path", "sources:\n  github:\n    - org: ../etc\n", ":3: sources.github[0]: org must be the organisation's login"},
		{"github token and app", "sources:\n  github:\n    - org: acme\n      token_env: T\n      app: {app_id: 1, installation_id: 2, private_key_file: k.pem}\n", ":3: sources.github[0]: give token_env or app, not both"},
		{"github app incomplete", "sources:\n  github:\n    - org: acme\n      app: {app_id: 1}\n", "sources.github[0].app: app_id, installation_id and private_key_file are required"},
		{"github visibility", "sources:\n  github:\n    - {org: acme, visibility: secret}\n", `sources.github[0]: visibility "secret"`},
		{"github glob", "sources:\n  github:\n    - {org: acme, include: [\"[\"]}\n", `sources.github[0]: bad glob`},
		{"github api url with credentials", "sources:\n  github:\n    - {org: acme, api_url: \"https://u:p@ghe.example\"}\n", "api_url must be an http(s) URL without credentials"},
		{"github duplicate org", "sources:\n  github:\n    - {org: acme}\n    - {org: acme}\n", `:4: github source name "acme" is already used on line 3`},
		{"kubernetes without name", "inventory:\n  kubernetes:\n    - {kubeconfig: k}\n", "inventory.kubernetes[0]: name is required"},
		{"kubernetes in cluster and kubeconfig", "inventory:\n  kubernetes:\n    - {name: p, in_cluster: true, kubeconfig: k}\n", "inventory.kubernetes[0] (p): in_cluster uses the pod's service account"},
		{"kubernetes bad namespace glob", "inventory:\n  kubernetes:\n    - {name: p, namespaces: [\"[\"]}\n", "inventory.kubernetes[0].namespaces[0]: bad glob"},
		{"kubernetes duplicate", "inventory:\n  kubernetes:\n    - {name: p}\n    - {name: p}\n", `inventory.kubernetes[1]: name "p" is used twice`},
		{"sops repo unknown", "inventory:\n  sops:\n    repos: [{name: etl, paths: [\"*.yaml\"]}]\n", `inventory.sops.repos[0]: "etl" is not the name of a sources.git repository`},
		{"sops repo without paths", "sources:\n  git:\n    - {name: etl, path: r}\ninventory:\n  sops:\n    repos: [{name: etl}]\n", "inventory.sops.repos[0] (etl): paths is required"},
		{"organization not an account", "aws:\n  organization: mgmt\n  accounts:\n    - name: data\n", `aws.organization: "mgmt" is not one of aws.accounts`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, tc.body)
			_, err := Load(p)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not name the file", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

// A value in a config error is never echoed: a pasted secret, or 50 MB.
func TestErrorsNeverEchoValues(t *testing.T) {
	secret := "AKIA" + strings.Repeat("Z", 16) + "-hunter2-" + strings.Repeat("x", 200)
	for _, body := range []string{
		"fail_on: " + secret + "\n",
		"version: " + secret + "\n",
		"synthetic:\n  workers: " + secret + "\n",
		"synthetic:\n  margin: " + secret + "\n",
		"sources:\n  git:\n    - path: a\n      " + strings.Repeat("Z", 5) + ": " + secret + "\n",
	} {
		_, err := Load(write(t, body))
		if err == nil {
			t.Fatalf("accepted %q", body[:20])
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "AKIA") {
			t.Errorf("error echoes the value: %v", err)
		}
		if strings.Contains(err.Error(), "config.") || strings.Contains(err.Error(), "in type") {
			t.Errorf("error names a Go type: %v", err)
		}
	}
}

// Anchors and merge keys across entries are plain YAML and work.
func TestAnchorsAndMergeKeysAcrossEntries(t *testing.T) {
	cfg, err := Load(write(t, `
aws:
  region: eu-west-1
  accounts:
    - &base {name: prod, role_arn: "arn:aws:iam::111111111111:role/vigil", external_id: x}
    - <<: *base
      name: staging
sources:
  logs:
    - &applogs {name: app, paths: ["logs/*.log"]}
    - <<: *applogs
      name: other
`))
	if err != nil {
		t.Fatal(err)
	}
	if a := cfg.AWS.Accounts; len(a) != 2 || a[1].RoleARN != "arn:aws:iam::111111111111:role/vigil" || a[1].Name != "staging" || a[1].Line != 6 {
		t.Errorf("accounts %+v", a)
	}
	if _, err := Load(write(t, "sources:\n  git:\n    - &a {path: x}\n    - <<: *a\n      name: y\n      nope: 1\n")); err == nil || !strings.Contains(err.Error(), ":6: field nope not found") {
		t.Errorf("unknown field beside a merge: %v", err)
	}
}

// An organisation entry gets the defaults a nightly job wants: the token
// from GITHUB_TOKEN, forks left out, archived repositories and alerts in.
func TestGitHubOrgDefaults(t *testing.T) {
	cfg, err := Load(write(t, "sources:\n  github:\n    - org: acme\n    - org: beta\n      app: {app_id: 1, installation_id: 2, private_key_file: k.pem}\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Sources.GitHub[0], cfg.Sources.GitHub[1]
	if a.TokenEnv != "GITHUB_TOKEN" || Flag(a.Forks, false) || !Flag(a.Archived, true) || !Flag(a.Alerts, true) ||
		a.Visibility != "all" || a.Workers != 4 || a.MaxRequests != 4 || a.RateLimitWait.Minutes() != 15 {
		t.Errorf("defaults: %+v", a)
	}
	if b.TokenEnv != "" || !filepath.IsAbs(b.App.PrivateKeyFile) {
		t.Errorf("app entry: token_env %q, key %q", b.TokenEnv, b.App.PrivateKeyFile)
	}
}
