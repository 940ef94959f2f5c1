package remediate

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/stores/azkv"
	"github.com/vigilsec/vigil/stores/gcpsm"
)

// A rotation in a store with enabled versions (Key Vault against the SDK's
// fake server, Secret Manager against a gRPC server of the official
// service): the new version is current and the old one disabled; a rollback
// re-enables the old value as the newest version and disables vigil's; a
// failed validation leaves the old version enabled and the rollback then
// restores it.
func TestRotateVersioned(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, store, secret string
		setup               func(t *testing.T, old string) (Versions, func(version string) bool)
	}{
		{"azure key vault", "azkv:kv", "prod-db", func(t *testing.T, old string) (Versions, func(string) bool) {
			v := testenv.NewAzureKeyVault()
			v.Put("prod-db", old, nil, nil)
			return azkv.Writer{Client: v.Client(t)}, func(id string) bool {
				for _, x := range v.Secrets["prod-db"] {
					if x.ID == id {
						return x.Enabled
					}
				}
				return false
			}
		}},
		{"google secret manager", "gcpsm:proj", "projects/proj/secrets/prod-db", func(t *testing.T, old string) (Versions, func(string) bool) {
			s := testenv.NewSecretManager(t)
			s.Put("proj", "prod-db", old, nil, nil)
			return gcpsm.Writer{Client: s.Client(t)}, func(name string) bool { return s.State(name) == secretmanagerpb.SecretVersion_ENABLED }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := testenv.FakeAWSKey()
			w, enabled := tc.setup(t, old)
			_, h := testenv.Store(t)
			handler := &Versioned{Stores: map[string]Versions{tc.store: w}, Hasher: h, Values: &Values{Dir: t.TempDir()}}
			rot := &rules.Rotation{Length: 32, Validate: &rules.Validation{Command: []string{"sh", "-c", `v=$(cat); [ ${#v} -eq 32 ]`}}}
			action := func() *store.Action {
				return &store.Action{ID: "act-1", State: map[string]any{},
					Spec: encode(RotateSpec{Store: tc.store, Path: "x:" + tc.secret, Secret: tc.secret, Rotation: rot})}
			}
			save := func() error { return nil }
			from, _, err := w.Current(ctx, tc.secret)
			if err != nil {
				t.Fatal(err)
			}
			a := action()
			if err := handler.Apply(ctx, a, save); err != nil {
				t.Fatal(err)
			}
			mine, cur, err := w.Current(ctx, tc.secret)
			if err != nil || cur == old || len(cur) != 32 || enabled(from) || !enabled(mine) {
				t.Fatalf("after the rotation: %v; old version enabled=%v, new enabled=%v", err, enabled(from), enabled(mine))
			}
			if err := handler.Rollback(ctx, a, save); err != nil {
				t.Fatal(err)
			}
			if _, cur, _ := w.Current(ctx, tc.secret); cur != old || !enabled(from) || enabled(mine) {
				t.Fatalf("after the rollback: old value current=%v, old version enabled=%v, vigil's enabled=%v", cur == old, enabled(from), enabled(mine))
			}

			rot.Validate.Command = []string{"false"}
			b := action()
			before, _, _ := w.Current(ctx, tc.secret)
			if err := handler.Apply(ctx, b, save); err == nil {
				t.Fatal("a refused value was accepted")
			}
			if !enabled(before) {
				t.Fatal("the old version was disabled before the new one was proven")
			}
			if err := handler.Rollback(ctx, b, save); err != nil {
				t.Fatal(err)
			}
			if _, cur, _ := w.Current(ctx, tc.secret); cur != old {
				t.Fatal("after a refused rotation the old value is not current")
			}
			for _, x := range []*store.Action{a, b} {
				if strings.Contains(fmt.Sprint(x.BeforeHash, x.AfterHash, x.State, x.Spec), old) {
					t.Fatal("a value is in the action")
				}
			}
		})
	}
}

// A live leak of a Key Vault or Secret Manager secret whose declaration
// says how to rotate it plans that store's rotation of that secret.
func TestPlanVersionedRotation(t *testing.T) {
	p := &Planner{Declared: []rules.Declared{{Path: "azkv:prod-kv/db-password", Rotation: &rules.Rotation{Length: 32}},
		{Path: "gcpsm:data-prod/db-password", Rotation: &rules.Rotation{Length: 32}}}}
	for _, tc := range []struct{ path, store, kind, secret string }{
		{"azkv:prod-kv/db-password", "azkv:prod-kv", KindRotateAzureKV, "db-password"},
		{"gcpsm:data-prod/db-password", "gcpsm:data-prod", KindRotateGCPSM, "projects/data-prod/secrets/db-password"},
	} {
		f := finding.Finding{Kind: finding.KindLeakLive, Resource: tc.path, Evidence: finding.Evidence{finding.EvStore: tc.store, finding.EvPath: tc.path}}
		c, why := p.rotation(f)
		spec, _ := c.spec.(RotateSpec)
		if why != "" || c.kind != tc.kind || spec.Store != tc.store || spec.Secret != tc.secret {
			t.Errorf("%s: %q %+v", tc.path, why, c)
		}
	}
}
