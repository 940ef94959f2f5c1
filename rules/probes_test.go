package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProbesParseWithLines(t *testing.T) {
	p := filepath.Join(t.TempDir(), "identities.yaml")
	os.WriteFile(p, []byte(`identities:
  - name: etl
    kind: vault
    vault: main
    policies: [etl]

    probes:
      duration: 2m
      canary: [secret/data/canary]
      allow:
        - read secret/data/dev/etl

        - write secret/data/canary
      deny:
        - read secret/data/prod/etl
  - name: loader
    kind: role
    probes:
      deny: [iam:ListUsers]
`), 0o644)
	ids, err := LoadIdentities(p)
	if err != nil {
		t.Fatal(err)
	}
	pr := ids[0].Probes
	all := pr.All()
	if len(all) != 3 || all[1].Action != "write" || all[1].Line != 13 || all[2].Expect != ExpectDeny || all[2].Line != 15 ||
		pr.Duration.Minutes() != 2 || !pr.IsCanary("secret/data/canary") || pr.Line != 8 {
		t.Fatalf("%+v %+v", pr, all)
	}
	if d := ids[1].Probes.Deny; len(d) != 1 || d[0].Action != "iam:ListUsers" || d[0].Target != "" {
		t.Fatalf("%+v", d)
	}
}

func TestBadProbesNameFileAndLine(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"identities:\n  - name: u\n    kind: user\n    probes:\n      deny: [iam:ListUsers]\n", ":2: identity \"u\": probes need a role or a vault identity"},
		{"identities:\n  - name: r\n    kind: role\n    probes:\n      deny:\n        - a b c\n", ":6: a probe is \"action target\""},
		{"identities:\n  - name: r\n    kind: role\n    probes:\n      allow: []\n", ":2: identity \"r\": probes lists no allow or deny probe"},
		{"identities:\n  - name: r\n    kind: role\n    probes:\n      alow: [x]\n", ":5: field alow not found"},
		{"identities:\n  - name: v\n    kind: vault\n    probes:\n      deny: [read x]\n", ":2: identity \"v\": kind vault needs vault"},
	} {
		p := filepath.Join(t.TempDir(), "identities.yaml")
		os.WriteFile(p, []byte(c.yaml), 0o644)
		_, err := LoadIdentities(p)
		if err == nil || !strings.Contains(err.Error(), p+c.want) {
			t.Errorf("%q: got %v, want %s", c.yaml, err, c.want)
		}
	}
}
