package remediate

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/stores/azkv"
)

// A Key Vault rotation against the SDK's fake server: the new version is
// current and the old one disabled (a leak of it is no longer live); a
// rollback re-enables the old value as the newest version and disables
// vigil's; a failed validation leaves the old version enabled.
func TestRotateAzureKV(t *testing.T) {
	ctx := context.Background()
	v := testenv.NewAzureKeyVault()
	old := testenv.FakeAWSKey()
	v.Put("prod-db", old, nil, nil)
	w := &azkv.Writer{Client: v.Client(t)}
	_, h := testenv.Store(t)
	handler := &AzureKV{Stores: map[string]*azkv.Writer{"azkv:kv": w}, Hasher: h, Values: &Values{Dir: t.TempDir()}}
	rot := &rules.Rotation{Length: 32, Validate: &rules.Validation{Command: []string{"sh", "-c", `v=$(cat); [ ${#v} -eq 32 ]`}}}
	action := func() *store.Action {
		return &store.Action{ID: "act-1", Kind: KindRotateAzureKV, State: map[string]any{},
			Spec: encode(RotateSpec{Store: "azkv:kv", Path: "azkv:kv/prod-db", Secret: "prod-db", Rotation: rot})}
	}
	save := func() error { return nil }
	a := action()
	if err := handler.Apply(ctx, a, save); err != nil {
		t.Fatal(err)
	}
	cur, err := w.Current(ctx, "prod-db")
	if err != nil || cur == old || len(cur) != 32 {
		t.Fatalf("after the rotation: %v (len %d)", err, len(cur))
	}
	vs := v.Secrets["prod-db"]
	if len(vs) != 2 || vs[0].Enabled || !vs[1].Enabled {
		t.Fatalf("versions after the rotation: old enabled=%v, new enabled=%v", vs[0].Enabled, vs[1].Enabled)
	}
	if err := handler.Rollback(ctx, a, save); err != nil {
		t.Fatal(err)
	}
	if cur, _ := w.Current(ctx, "prod-db"); cur != old {
		t.Fatal("the rollback did not make the old value current")
	}
	vs = v.Secrets["prod-db"]
	if len(vs) != 3 || !vs[0].Enabled || vs[1].Enabled || !vs[2].Enabled {
		t.Fatalf("versions after the rollback: %v %v %v", vs[0].Enabled, vs[1].Enabled, vs[2].Enabled)
	}

	// A value the validation refuses: the old version is never disabled,
	// and the rollback the engine runs then restores it.
	rot.Validate.Command = []string{"false"}
	b := action()
	if err := handler.Apply(ctx, b, save); err == nil {
		t.Fatal("a refused value was accepted")
	}
	if vs := v.Secrets["prod-db"]; !vs[2].Enabled {
		t.Fatal("the old version was disabled before the new one was proven")
	}
	if err := handler.Rollback(ctx, b, save); err != nil {
		t.Fatal(err)
	}
	if cur, _ := w.Current(ctx, "prod-db"); cur != old {
		t.Fatal("after a refused rotation the old value is not current")
	}
	for _, x := range []*store.Action{a, b} {
		if strings.Contains(x.BeforeHash+x.AfterHash+fmt.Sprint(x.State, x.Spec), old) {
			t.Fatal("a value is in the action")
		}
	}
}

// A live leak of a Key Vault secret whose declaration says how to rotate it
// plans a Key Vault rotation of that secret in that vault.
func TestPlanAzureKVRotation(t *testing.T) {
	p := &Planner{Declared: []rules.Declared{{Path: "azkv:prod-kv/db-password", Rotation: &rules.Rotation{Length: 32}}}}
	f := finding.Finding{Kind: finding.KindLeakLive, Resource: "azkv:prod-kv/db-password",
		Evidence: finding.Evidence{finding.EvStore: "azkv:prod-kv", finding.EvPath: "azkv:prod-kv/db-password"}}
	c, why := p.rotation(f)
	spec, _ := c.spec.(RotateSpec)
	if why != "" || c.kind != KindRotateAzureKV || spec.Store != "azkv:prod-kv" || spec.Secret != "db-password" {
		t.Fatalf("%q %+v", why, c)
	}
}
