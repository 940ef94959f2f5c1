package kubernetes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/internal/testenv/kubetest"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners"
	"github.com/vigilsec/vigil/scanners/inventory"
	"github.com/vigilsec/vigil/stores"
	"github.com/vigilsec/vigil/stores/vault"
)

// bao returns a root client of the test OpenBao server and a KV v2 mount
// of the test's own.
func bao(t *testing.T) (*api.Client, string) {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: testenv.OpenBao(t)})
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(testenv.OpenBaoToken)
	b := make([]byte, 4)
	rand.Read(b)
	m := "kv-" + hex.EncodeToString(b)
	if err := c.Sys().Mount(m, &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	return c, m
}

// baoFetch reads a property of a KV v2 secret, as ESO's Vault provider does.
func baoFetch(b *api.Client, mount string) func(key, property string) (string, error) {
	return func(key, property string) (string, error) {
		kv, err := b.KVv2(mount).Get(context.Background(), key)
		if err != nil {
			return "", err
		}
		return fmt.Sprint(kv.Data[property]), nil
	}
}

func esDoc(name, store, storeKind, target string, keys ...string) string {
	var data []string
	for _, k := range keys {
		data = append(data, fmt.Sprintf("  - secretKey: %s\n    remoteRef: {key: %s, property: password}", strings.ReplaceAll(k, "/", "-"), k))
	}
	return fmt.Sprintf(`apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: %s}
spec:
  refreshInterval: 1h
  secretStoreRef: {name: %s, kind: %s}
  target: {name: %s}
  data:
%s
---
`, name, store, storeKind, target, strings.Join(data, "\n"))
}

// An ESO-managed namespace on a real API server with OpenBao behind it:
// copies are classified, the hand-made Secret among them is unmanaged, a
// failing sync and a dangling remote key are found, and a production
// namespace syncing a dev path is an environment mismatch. The dangling
// check runs in the inventory scanner, against the real vault store's
// listing.
func TestExternalSecretsAgainstTheStores(t *testing.T) {
	c := kubetest.Start(t)
	b, m := bao(t)
	p := c.Prefix()
	ns := p + "prod"
	c.Namespace(t, ns, nil)
	for _, k := range []string{"prod/warehouse", "dev/reporting"} {
		if _, err := b.KVv2(m).Put(context.Background(), k, map[string]any{"password": testenv.FakeAWSKey()}); err != nil {
			t.Fatal(err)
		}
	}
	docs := fmt.Sprintf(`apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: bao}
spec:
  provider:
    vault:
      server: %s
      path: %s
      version: v2
      auth: {tokenSecretRef: {name: bao-token, key: token}}
---
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: {name: %saws}
spec:
  provider:
    aws: {service: SecretsManager, region: eu-west-1}
---
`, testenv.OpenBao(t), m, p)
	docs += esDoc("warehouse", "bao", "SecretStore", "warehouse", "prod/warehouse")
	docs += esDoc("reporting", "bao", "SecretStore", "reporting", "dev/reporting")
	docs += esDoc("gone", "bao", "SecretStore", "gone", "prod/gone")
	docs += esDoc("db", p+"aws", "ClusterSecretStore", "db", "prod/db")
	docs += `apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata: {name: push-api}
spec:
  secretStoreRefs: [{name: bao, kind: SecretStore}]
  selector: {secret: {name: pushed-api}}
  data: [{match: {secretKey: token, remoteRef: {remoteKey: prod/api}}}]
`
	c.Apply(t, ns, []byte(docs))
	mkSecret(t, c, ns, "bao-token", corev1.SecretTypeOpaque, map[string]string{"token": testenv.FakeGitHubToken()}, nil, nil)
	mkSecret(t, c, ns, "pushed-api", corev1.SecretTypeOpaque, map[string]string{"token": testenv.FakeGitHubToken()}, nil, nil)
	kubetest.ESOStandIn{C: c, NS: ns, Store: "bao", Fetch: baoFetch(b, m)}.Reconcile(t)

	kube := asVigil(t, c, []string{ns}, nil)
	inv := &inventory.Scanner{
		Stores: []stores.Store{kube, vault.New(b, "bao", []string{m}, nil)},
		Comparer: &inventory.Comparer{Controls: rules.DefaultControls(), DefaultRotationDays: 90, DefaultUnusedDays: 90,
			Declared: []rules.Declared{{Path: "vault:" + m + "/prod/warehouse", Owner: "data", Env: "prod"}, {Path: "vault:" + m + "/dev/reporting", Owner: "data", Env: "dev"}}},
	}
	var got []string
	err := inv.Scan(context.Background(), nil, func(r scanners.Result) {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Source, r.Err)
		}
		for _, f := range r.Findings {
			got = append(got, string(f.Kind)+" "+f.Resource)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	want := []string{
		string(finding.KindInvEnvMismatch) + " k8s:" + ns + "/reporting",
		string(finding.KindInvMissing) + " vault:" + m + "/prod/gone",
		string(finding.KindInvSyncFailed) + " k8s:" + ns + "/gone",
		string(finding.KindInvUndeclared) + " k8s:" + ns + "/bao-token/token",
		string(finding.KindInvNoOwner) + " k8s:" + ns + "/bao-token/token",
		string(finding.KindInvUndeclared) + " k8s:" + ns + "/pushed-api/token",
		string(finding.KindInvNoOwner) + " k8s:" + ns + "/pushed-api/token",
		string(finding.KindInvUnmanaged) + " k8s:" + ns + "/bao-token",
	}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// awssm:prod/db is referenced too, but no store here covers awssm:, so
	// it is not called missing; the copies say where they come from.
	refs := map[string]string{}
	for _, r := range kube.References() {
		refs[r.From] = r.Path
	}
	if refs["k8s:"+ns+"/db"] != "awssm:prod/db" || refs["k8s:"+ns+"/warehouse"] != "vault:"+m+"/prod/warehouse" {
		t.Errorf("references: %v", refs)
	}
}
