package remediate

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/testenv/kubetest"
	kstore "github.com/vigilsec/vigil/stores/kubernetes"
)

// esoFixture puts an ExternalSecret copying the vault fixture's password
// into a Kubernetes Secret on the real API server, synced by the test's
// stand-in for ESO's controller (running when run is true), and wraps the
// fixture's rotation so its copies are refreshed, as vigil's wiring does.
func esoFixture(t *testing.T, fx *vaultFixture, run bool, wait time.Duration) (copyValue func() string) {
	t.Helper()
	c := kubetest.Start(t)
	ns := c.Prefix() + "prod"
	c.Namespace(t, ns, nil)
	c.Apply(t, ns, []byte(fmt.Sprintf(`apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: bao}
spec:
  provider:
    vault: {server: %q, path: %s, version: v2, auth: {tokenSecretRef: {name: bao-token, key: token}}}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: warehouse}
spec:
  refreshInterval: 1h
  secretStoreRef: {name: bao, kind: SecretStore}
  target: {name: warehouse-db}
  data:
    - {secretKey: password, remoteRef: {key: prod/warehouse, property: password}}
`, fx.c.Address(), fx.mount)))
	standIn := kubetest.ESOStandIn{C: c, NS: ns, Store: "bao", Fetch: func(key, prop string) (string, error) {
		kv, err := fx.c.KVv2(fx.mount).Get(context.Background(), key)
		if err != nil {
			return "", err
		}
		return fmt.Sprint(kv.Data[prop]), nil
	}}
	standIn.Reconcile(t)
	if run {
		standIn.Run(t, 200*time.Millisecond)
	}
	rc := c.Config(c.VigilToken(t))
	core, _ := kubernetes.NewForConfig(rc)
	dyn, _ := dynamic.NewForConfig(rc)
	kv := fx.engine.Handlers[KindRotateVault].(*VaultKV)
	fx.engine.Handlers[KindRotateVault] = Synced{Handler: kv, Copies: &kstore.Syncer{
		Clusters: []*kstore.Store{kstore.New("test", core, dyn, nil, false, nil, nil)}, Hasher: kv.Hasher, Wait: wait}}
	return func() string {
		s, err := c.Admin.CoreV1().Secrets(ns).Get(context.Background(), "warehouse-db", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return string(s.Data["password"])
	}
}

// A rotation in OpenBao reaches the Kubernetes Secret ESO keeps of it: the
// ExternalSecret is asked to sync, and the copy proven to hold the new
// value; the rollback carries the old value back the same way.
func TestRotationRefreshesExternalSecrets(t *testing.T) {
	fx := newVaultFixture(t, `read -r v; [ ${#v} -eq 24 ]`)
	copyValue := esoFixture(t, fx, true, 30*time.Second)
	if copyValue() != fx.old {
		t.Fatal("the copy does not start with the old value")
	}
	a := fx.apply(t)
	if a.Status != store.ActApplied {
		t.Fatalf("%s: %s", a.Status, a.Error)
	}
	_, data := fx.current(t)
	if got := copyValue(); got != data["password"] || got == fx.old {
		t.Fatal("after the rotation the copy does not hold the new value")
	}
	if cs := fmt.Sprint(a.State["copies"]); strings.Count(cs, "warehouse-db[password]") != 1 {
		t.Errorf("copies recorded: %v", a.State["copies"])
	}
	rb, err := fx.engine.Rollback(context.Background(), a.ID, false)
	if err != nil || rb.Status != store.ActRolledBack {
		t.Fatalf("rollback: %v %+v", err, rb)
	}
	if copyValue() != fx.old {
		t.Fatal("after the rollback the copy does not hold the old value")
	}
	assertNoSecret(t, fx.st, fx.old, fmt.Sprint(data["password"]))
}

// With nothing syncing the copy (ESO down), the rotation is not proven
// where the pods read it: it fails verification and is rolled back.
func TestRotationWithStaleCopiesIsRolledBack(t *testing.T) {
	fx := newVaultFixture(t, `read -r v; [ ${#v} -eq 24 ]`)
	esoFixture(t, fx, false, 2*time.Second)
	a := fx.apply(t)
	if a.Status != store.ActRolledBack || !strings.Contains(a.Error, "copies") || !strings.Contains(a.Error, "warehouse-db[password]") {
		t.Fatalf("%s: %s", a.Status, a.Error)
	}
	if _, data := fx.current(t); data["password"] != fx.old {
		t.Fatal("the store does not hold the old value after the rollback")
	}
}
