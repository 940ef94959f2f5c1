package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/stores"
)

func TestCompareEveryKind(t *testing.T) {
	dir := t.TempDir()
	seed := filepath.Join(dir, "secrets.json")
	os.WriteFile(seed, []byte(`[
 {"path": "vault:secret/prod/warehouse/password", "owner": "data-platform", "env": "prod", "rotation_days": 30},
 {"path": "awssm:prod/db/password", "owner": "payments", "env": "prod"},
 {"path": "awssm:dev/payments/api-key", "owner": "payments", "env": "prod"},
 {"path": "vault:secret/prod/gone", "owner": "x", "env": "prod"},
 {"path": "github:org/acme/actions/DEPLOY", "owner": "platform", "env": "prod"}
]`), 0o644)
	declared, err := rules.LoadInventory(seed)
	if err != nil {
		t.Fatal(err)
	}
	declared[1].Consumers = []string{"etl-dev"}
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	days := func(n int) time.Time { return now.Add(-time.Duration(n) * 24 * time.Hour) }
	live := []stores.Secret{
		{Path: "vault:secret/prod/warehouse/password", Store: "vault", LastRotated: days(45)},                         // overdue (30)
		{Path: "awssm:prod/db/password", Store: "awssm:a/us-east-1", LastRotated: days(10), LastAccessed: days(200)},  // unused, dev consumer
		{Path: "awssm:dev/payments/api-key", Store: "awssm:a/us-east-1", LastRotated: days(1)},                        // prod under dev path
		{Path: "vault:secret/dev/scratch", Store: "vault", Created: days(5)},                                          // undeclared, no owner
		{Path: "awssm:tagged", Store: "awssm:a/us-east-1", Owner: "from-tags", Updated: days(100), RotationDays: 120}, // undeclared only
	}
	c := &Comparer{Declared: declared, IdentityEnv: map[string]string{"etl-dev": "dev"}, Controls: rules.DefaultControls(), Now: now,
		DefaultRotationDays: 90, DefaultUnusedDays: 90}
	// github was not listed (no store), vault and awssm completely.
	fs := c.Compare(live, map[string]bool{"vault:": true, "awssm:": true})
	var got []string
	for _, f := range fs {
		got = append(got, string(f.Kind)+" "+f.Resource)
	}
	sort.Strings(got)
	want := []string{
		"inventory.env_mismatch awssm:dev/payments/api-key",
		"inventory.env_mismatch awssm:prod/db/password#etl-dev",
		"inventory.missing vault:secret/prod/gone",
		"inventory.no_owner vault:secret/dev/scratch",
		"inventory.rotation_overdue vault:secret/prod/warehouse/password",
		"inventory.undeclared awssm:tagged",
		"inventory.undeclared vault:secret/dev/scratch",
		"inventory.unused awssm:prod/db/password",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("findings:\n got  %v\n want %v", got, want)
	}
}

func TestDeclaredInventoryErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "inv.yaml")
	os.WriteFile(p, []byte("secrets:\n  - path: vault:secret/a\n    env: production\n  - path: nowhere\n"), 0o644)
	_, err := rules.LoadInventory(p)
	if err == nil || !strings.Contains(err.Error(), p+":2: secret \"vault:secret/a\": env is not dev, stg or prod") || !strings.Contains(err.Error(), p+":4:") {
		t.Fatalf("%v", err)
	}
	j := filepath.Join(dir, "s.json")
	os.WriteFile(j, []byte("[\n {\"path\": \"vault:x\"},\n {\"path\" \"y\"}\n]"), 0o644)
	if _, err := rules.LoadInventory(j); err == nil || !strings.Contains(err.Error(), j+":3:") {
		t.Fatalf("json: %v", err)
	}
}

// A copy's source is called missing only when every store covering it
// listed completely; a production copy of a dev path is a mismatch
// whatever the stores say.
func TestReferences(t *testing.T) {
	c := &Comparer{Controls: rules.DefaultControls()}
	refs := []stores.Reference{
		{Store: "kubernetes:prod", From: "k8s:data-prod/db", Path: "vault:secret/prod/db", Where: "ExternalSecret data-prod/db"},
		{Store: "kubernetes:prod", From: "k8s:data-prod/api", Path: "vault:secret/dev/api", Where: "ExternalSecret data-prod/api"},
		{Store: "kubernetes:prod", From: "k8s:data-prod/key", Path: "awssm:prod/key", Where: "ExternalSecret data-prod/key"},
	}
	live := []stores.Secret{{Path: "vault:secret/dev/api", Store: "vault"}}
	kinds := func(complete map[string]bool) []string {
		var out []string
		for _, f := range c.References(refs, live, complete) {
			out = append(out, string(f.Kind)+" "+f.Resource)
		}
		sort.Strings(out)
		return out
	}
	if got := kinds(map[string]bool{"vault:": true, "awssm:": false}); strings.Join(got, ", ") != "inventory.env_mismatch k8s:data-prod/api, inventory.missing vault:secret/prod/db" {
		t.Fatalf("complete vault, partial awssm: %v", got)
	}
	if got := kinds(map[string]bool{"vault:": false}); strings.Join(got, ", ") != "inventory.env_mismatch k8s:data-prod/api" {
		t.Fatalf("partial vault: %v", got)
	}
}
