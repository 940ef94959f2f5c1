package vault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/internal/vaultconf"
	"github.com/vigilsec/vigil/stores"
	"github.com/vigilsec/vigil/stores/storetest"
)

func root(t *testing.T) *api.Client {
	t.Helper()
	t.Setenv("VIGIL_TEST_BAO_TOKEN", testenv.OpenBaoToken)
	c, err := vaultconf.Login(context.Background(), config.VaultStore{Name: "vault", Address: testenv.OpenBao(t), TokenEnv: "VIGIL_TEST_BAO_TOKEN"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mount enables a KV v2 mount of the test's own.
func mount(t *testing.T, c *api.Client) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	m := "kv-" + hex.EncodeToString(b)
	if err := c.Sys().Mount(m, &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	return m
}

func put(t *testing.T, c *api.Client, m, path string, data map[string]any, meta map[string]string) {
	t.Helper()
	if _, err := c.KVv2(m).Put(context.Background(), path, data); err != nil {
		t.Fatal(err)
	}
	if meta != nil {
		if _, err := c.Logical().Write(m+"/metadata/"+path, map[string]any{"custom_metadata": meta}); err != nil {
			t.Fatal(err)
		}
	}
}

func hasher(t *testing.T) *secrethash.Hasher {
	h, _ := secrethash.New([]byte(strings.Repeat("h", 32)))
	return h
}

func TestInventoryOfKVv2(t *testing.T) {
	c := root(t)
	m := mount(t, c)
	oldPw, newPw, tok := "pw-"+testenv.FakeAWSKey(), "pw-"+testenv.FakeAWSKey(), testenv.FakeGitHubToken()
	put(t, c, m, "prod/warehouse/password", map[string]any{"password": oldPw}, nil)
	put(t, c, m, "prod/warehouse/password", map[string]any{"password": newPw, "user": "etl"}, map[string]string{"owner": "data-platform", "env": "prod", "rotation_days": "30"})
	put(t, c, m, "dev/api/token", map[string]any{"token": tok}, nil)
	put(t, c, m, "top", map[string]any{"v": "x"}, nil)

	h := hasher(t)
	got := storetest.List(t, New(c, "vault", []string{m}, h))
	var paths []string
	for _, s := range got {
		paths = append(paths, s.Path)
	}
	want := []string{"vault:" + m + "/dev/api/token", "vault:" + m + "/prod/warehouse/password", "vault:" + m + "/top"}
	if fmt.Sprint(paths) != fmt.Sprint(want) {
		t.Fatalf("paths %v, want %v", paths, want)
	}
	pw := got[1]
	if pw.Owner != "data-platform" || pw.Env != "prod" || pw.RotationDays != 30 || pw.Versions != 2 || pw.Created.IsZero() || pw.LastRotated.Before(pw.Created) {
		t.Errorf("metadata %+v", pw)
	}
	hashes := map[string]bool{}
	for _, vh := range pw.Hashes {
		hashes[fmt.Sprintf("%s/%s/%v/%s", vh.Version, vh.Field, vh.Current, vh.Hash)] = true
	}
	for _, w := range []string{"2/password/true/" + h.Hash(newPw), "2/user/true/" + h.Hash("etl"), "1/password/false/" + h.Hash(oldPw)} {
		if !hashes[w] {
			t.Errorf("missing hash %s in %v", w, hashes)
		}
	}
	if dump := fmt.Sprintf("%+v", got); strings.Contains(dump, oldPw) || strings.Contains(dump, newPw) || strings.Contains(dump, tok) {
		t.Fatal("a secret value is kept in the inventory")
	}
	// Without a hasher, no value is read.
	for _, s := range storetest.List(t, New(c, "vault", []string{m}, nil)) {
		if len(s.Hashes) != 0 {
			t.Fatalf("%s hashed without a hasher", s.Path)
		}
	}
}

func TestAppRoleLoginAndMountDiscovery(t *testing.T) {
	c := root(t)
	m := mount(t, c)
	put(t, c, m, "svc/key", map[string]any{"k": "v"}, nil)
	if err := c.Sys().EnableAuthWithOptions("approle-"+m, &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	pol := fmt.Sprintf(`path "%s/metadata/*" { capabilities = ["list", "read"] }
path "sys/mounts" { capabilities = ["read"] }`, m)
	if err := c.Sys().PutPolicy("inventory-"+m, pol); err != nil {
		t.Fatal(err)
	}
	base := "auth/approle-" + m + "/role/vigil"
	if _, err := c.Logical().Write(base, map[string]any{"token_policies": "inventory-" + m}); err != nil {
		t.Fatal(err)
	}
	rid, _ := c.Logical().Read(base + "/role-id")
	sid, _ := c.Logical().Write(base+"/secret-id", nil)
	t.Setenv("VIGIL_TEST_ROLE_ID", rid.Data["role_id"].(string))
	t.Setenv("VIGIL_TEST_SECRET_ID", sid.Data["secret_id"].(string))
	vs := config.VaultStore{Name: "vault", Address: c.Address()}
	vs.AppRole = &config.AppRole{Mount: "approle-" + m, RoleIDEnv: "VIGIL_TEST_ROLE_ID", SecretIDEnv: "VIGIL_TEST_SECRET_ID"}
	ac, err := vaultconf.Login(context.Background(), vs)
	if err != nil {
		t.Fatal(err)
	}
	got := storetest.List(t, New(ac, "vault", []string{m}, nil))
	if len(got) != 1 || got[0].Path != "vault:"+m+"/svc/key" {
		t.Fatalf("%+v", got)
	}
	// A token that may not read values makes hashing fail loudly, not silently.
	if err := New(ac, "vault", []string{m}, hasher(t)).List(context.Background(), func(stores.Secret) {}); err == nil {
		t.Fatal("reading values without permission did not fail")
	}
	// Discovery: the root token sees this mount among the KV v2 mounts.
	found := false
	for _, s := range storetest.List(t, New(c, "vault", nil, nil)) {
		found = found || s.Path == "vault:"+m+"/svc/key"
	}
	if !found {
		t.Fatal("mount discovery missed the test mount")
	}
}

func TestUnreachableServer(t *testing.T) {
	c, _ := vaultconf.Login(context.Background(), config.VaultStore{Name: "vault", Address: "http://127.0.0.1:1"})
	c.SetMaxRetries(0)
	err := New(c, "vault", []string{"secret"}, nil).List(context.Background(), func(stores.Secret) {})
	if err == nil || !strings.Contains(err.Error(), "vault: list secret/") {
		t.Fatalf("%v", err)
	}
}
