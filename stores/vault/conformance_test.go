package vault

import (
	"context"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"

	"github.com/vigilsec/vigil/stores"
	"github.com/vigilsec/vigil/stores/storetest"
)

// The store conformance suite against a real OpenBao dev server.
func TestConformance(t *testing.T) {
	c := root(t)
	var m string
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T, h stores.Hasher) stores.Store {
			return New(c, "bao-conformance", []string{m}, h)
		},
		Seed: func(t *testing.T, name, value string) string {
			if m == "" {
				m = mount(t, c)
			}
			put(t, c, m, "team/"+name, map[string]any{"password": value}, nil)
			return "vault:" + m + "/team/" + name
		},
		Broken: func(t *testing.T) stores.Store {
			return New(c, "bao-conformance", []string{"no-such-mount"}, nil)
		},
		Denied: func(t *testing.T) stores.Store {
			// A token with only the default policy may not list KV metadata.
			sec, err := c.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}})
			if err != nil {
				t.Fatal(err)
			}
			limited, err := c.Clone()
			if err != nil {
				t.Fatal(err)
			}
			limited.SetToken(sec.Auth.ClientToken)
			if m == "" {
				m = mount(t, c)
			}
			return New(limited, "bao-conformance", []string{m}, nil)
		},
		Rotate: func(t *testing.T, path, value string) func() {
			return rotateKV(t, NewKV(c, "bao-conformance"), path, value)
		},
	})
}

// An existing but empty mount is a complete, empty listing; a KV v1 mount
// is named as not KV v2.
func TestEmptyMountIsCompleteAndKV1IsNamed(t *testing.T) {
	c := root(t)
	m := mount(t, c)
	if got := storetest.List(t, New(c, "bao", []string{m}, nil)); len(got) != 0 {
		t.Fatalf("%d secrets in an empty mount", len(got))
	}
	if err := c.Sys().Mount(m+"-v1", &api.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}); err != nil {
		t.Fatal(err)
	}
	err := New(c, "bao", []string{m + "-v1"}, nil).List(context.Background(), func(stores.Secret) {})
	if err == nil || !strings.Contains(err.Error(), "not a KV v2 mount") {
		t.Fatalf("KV v1 mount: %v", err)
	}
}

// rotateKV replaces the password field of the secret at a vault: path with
// check-and-set on the version read, as remediation does, and returns the
// rollback: the old data written back as a newer version.
func rotateKV(t *testing.T, kv *KV, path, value string) func() {
	t.Helper()
	ctx := context.Background()
	mount, secret, _ := strings.Cut(strings.TrimPrefix(path, "vault:"), "/")
	from, err := kv.CurrentVersion(ctx, mount, secret)
	if err != nil {
		t.Fatal(err)
	}
	old, err := kv.ReadVersion(ctx, mount, secret, from)
	if err != nil {
		t.Fatal(err)
	}
	written, err := kv.Write(ctx, mount, secret, map[string]any{"password": value}, from)
	if err != nil {
		t.Fatal(err)
	}
	// A writer that read an older version is refused, not obeyed.
	if _, err := kv.Write(ctx, mount, secret, map[string]any{"password": "stale"}, from); err == nil {
		t.Fatal("a check-and-set write on a stale version succeeded")
	}
	return func() {
		if _, err := kv.Write(ctx, mount, secret, old, written); err != nil {
			t.Fatal(err)
		}
	}
}
