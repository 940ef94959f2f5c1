package inventory_test

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners"
	"github.com/vigilsec/vigil/scanners/inventory"
	"github.com/vigilsec/vigil/stores"
	"github.com/vigilsec/vigil/stores/awssm"
	"github.com/vigilsec/vigil/stores/files"
	"github.com/vigilsec/vigil/stores/github"
	"github.com/vigilsec/vigil/stores/vault"
)

// empty is a real store (its name and what it covers) that lists nothing,
// or fails.
type empty struct {
	stores.Store
	err error
}

func (e empty) List(context.Context, func(stores.Secret)) error { return e.err }

// A declared secret no store has is missing, whatever the store instance is
// named: a Vault store named "main" must still account for "vault:" paths.
// One case per store type, each under a name unlike its type.
func TestMissingIsFoundForEveryStoreTypeWhateverItsName(t *testing.T) {
	stores := []stores.Store{
		empty{Store: vault.New(nil, "main", []string{"secret"}, nil)},
		empty{Store: awssm.New(nil, "awssm:prod/eu-west-1", nil)},
		empty{Store: github.New(nil, "acme", nil, rules.DefaultControls())},
		empty{Store: &files.Store{}},
	}
	declared := []rules.Declared{
		{Path: "vault:secret/prod/db", File: "inv.yaml", Line: 1},
		{Path: "awssm:prod/db/password", File: "inv.yaml", Line: 2},
		{Path: "github:org/acme/actions/DEPLOY", File: "inv.yaml", Line: 3},
		{Path: "github:org/other-org/actions/DEPLOY", File: "inv.yaml", Line: 4}, // no store lists other-org
		{Path: "file:config/.env#DB_PASSWORD", File: "inv.yaml", Line: 5},
		{Path: "k8s:etl/db/password", File: "inv.yaml", Line: 6},
	}
	got := missing(t, stores, declared)
	want := "awssm:prod/db/password file:config/.env#DB_PASSWORD github:org/acme/actions/DEPLOY k8s:etl/db/password vault:secret/prod/db"
	if got != want {
		t.Fatalf("missing:\n got  %s\n want %s", got, want)
	}
	// A store that fails settles nothing for the paths it covers.
	stores[0] = empty{Store: vault.New(nil, "main", nil, nil), err: context.DeadlineExceeded}
	if got := missing(t, stores, declared); strings.Contains(got, "vault:") {
		t.Fatalf("missing from a failed store: %s", got)
	}
}

func missing(t *testing.T, stores []stores.Store, declared []rules.Declared) string {
	t.Helper()
	s := &inventory.Scanner{Stores: stores, Comparer: &inventory.Comparer{Declared: declared, Controls: rules.DefaultControls()}}
	var out []string
	err := s.Scan(context.Background(), nil, func(r scanners.Result) {
		for _, f := range r.Findings {
			if f.Kind == finding.KindInvMissing {
				out = append(out, f.Resource)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}
