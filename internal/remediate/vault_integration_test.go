package remediate

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/stores/vault"
)

// vaultFixture is a KV v2 mount of its own on the OpenBao dev server with
// one secret {user, password}, and a rotation_overdue finding for it.
type vaultFixture struct {
	c       *api.Client
	st      *store.Store
	engine  *Engine
	planner *Planner
	mount   string
	old     string
}

func newVaultFixture(t *testing.T, validate string) *vaultFixture {
	t.Helper()
	ctx := context.Background()
	cfg := api.DefaultConfig()
	cfg.Address = testenv.OpenBao(t)
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(testenv.OpenBaoToken)
	mount := fmt.Sprintf("kv-rem-%d", time.Now().UnixNano())
	if err := c.Sys().MountWithContext(ctx, mount, &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	old := "pw-" + testenv.FakeAWSKey()
	if _, err := c.Logical().WriteWithContext(ctx, mount+"/data/prod/warehouse", map[string]any{"data": map[string]any{"user": "etl", "password": old}}); err != nil {
		t.Fatal(err)
	}
	st, h := testenv.Store(t)
	path := "vault:" + mount + "/prod/warehouse"
	seed(t, st, "inventory:vault", finding.Finding{ID: finding.Fingerprint(finding.KindInvRotationOverdue, path), Kind: finding.KindInvRotationOverdue,
		Resource: path, Title: "secret was last rotated 200 days ago", Evidence: finding.Evidence{"store": "bao"}})
	eng := &Engine{Store: st, Handlers: map[string]Handler{KindRotateVault: &VaultKV{Stores: map[string]*vault.KV{"bao": vault.NewKV(c, "bao")}, Hasher: h, Values: &Values{Dir: t.TempDir()}}}}
	rot := &rules.Rotation{Field: "password", Charset: "hex", Length: 24, Validate: &rules.Validation{Command: []string{"sh", "-c", validate}}}
	pl := &Planner{Store: st, Engine: eng, VaultMounts: map[string][]string{"bao": {mount}},
		Declared: []rules.Declared{{Path: path, Owner: "data", Rotation: rot}}}
	return &vaultFixture{c: c, st: st, engine: eng, planner: pl, mount: mount, old: old}
}

// current returns the current version and its data.
func (fx *vaultFixture) current(t *testing.T) (int, map[string]any) {
	t.Helper()
	s, err := fx.c.Logical().Read(fx.mount + "/data/prod/warehouse")
	if err != nil || s == nil {
		t.Fatal(err)
	}
	meta, _ := s.Data["metadata"].(map[string]any)
	data, _ := s.Data["data"].(map[string]any)
	v, _ := strconv.Atoi(fmt.Sprint(meta["version"]))
	return v, data
}

func (fx *vaultFixture) apply(t *testing.T) store.Action {
	t.Helper()
	p, err := fx.planner.Plan(context.Background(), nil)
	if err != nil || len(p.Actions) != 1 {
		t.Fatalf("plan: %v %+v", err, p)
	}
	if s := p.Actions[0].Spec; s["mount"] != fx.mount || s["secret"] != "prod/warehouse" {
		t.Fatalf("spec: %v", s)
	}
	acts, err := fx.engine.Apply(context.Background(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	return acts[0]
}

func TestRotateVaultKV(t *testing.T) {
	fx := newVaultFixture(t, `read -r v; [ ${#v} -eq 24 ]`)
	a := fx.apply(t)
	if a.Status != store.ActApplied {
		t.Fatalf("%s: %s", a.Status, a.Error)
	}
	v, data := fx.current(t)
	pw, _ := data["password"].(string)
	if v != 2 || pw == fx.old || len(pw) != 24 || data["user"] != "etl" {
		t.Fatalf("after rotation: version %d, user %v, password changed %v", v, data["user"], pw != fx.old)
	}
	if !strings.HasPrefix(a.Caller, "vault:") {
		t.Errorf("caller %q", a.Caller)
	}
	// Rollback writes the old value as version 3.
	rb, err := fx.engine.Rollback(context.Background(), a.ID, false)
	if err != nil || rb.Status != store.ActRolledBack {
		t.Fatalf("rollback: %v %+v", err, rb)
	}
	if v, data := fx.current(t); v != 3 || data["password"] != fx.old {
		t.Errorf("after rollback: version %d", v)
	}
	assertNoSecret(t, fx.st, fx.old, pw)
}

func TestRotateVaultKVFailedValidationRestores(t *testing.T) {
	fx := newVaultFixture(t, `exit 3`)
	a := fx.apply(t)
	if a.Status != store.ActRolledBack || !strings.Contains(a.Error, "did not validate") {
		t.Fatalf("%s: %s", a.Status, a.Error)
	}
	// KV v2 has no undo: version 2 held the new value, version 3 is the
	// old one again.
	if v, data := fx.current(t); v != 3 || data["password"] != fx.old || data["user"] != "etl" {
		t.Errorf("after failed validation: version %d", v)
	}
}

func TestRotateVaultKVRollbackRefusesToOverwriteANewerWrite(t *testing.T) {
	fx := newVaultFixture(t, `cat >/dev/null`)
	a := fx.apply(t)
	if a.Status != store.ActApplied {
		t.Fatalf("%s: %s", a.Status, a.Error)
	}
	// Someone rotates again after vigil.
	if _, err := fx.c.Logical().Write(fx.mount+"/data/prod/warehouse", map[string]any{"data": map[string]any{"user": "etl", "password": "by-hand"}}); err != nil {
		t.Fatal(err)
	}
	rb, err := fx.engine.Rollback(context.Background(), a.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if rb.Status != store.ActFailed || !strings.Contains(rb.Error, "not overwriting") {
		t.Errorf("rollback over a newer write: %s %s", rb.Status, rb.Error)
	}
	if v, data := fx.current(t); v != 3 || data["password"] != "by-hand" {
		t.Errorf("the newer value was overwritten: version %d", v)
	}
}
