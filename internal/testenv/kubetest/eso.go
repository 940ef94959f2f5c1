package kubetest

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ESOStandIn is a small stand-in for External Secrets Operator's
// controller, for tests (the controller itself is not needed to prove
// vigil's reading of ESO's objects and its force-sync): it syncs the
// ExternalSecrets of namespace NS that use the SecretStore named Store, as
// ESO does (the target Secret owned by the ExternalSecret, its Ready
// condition), reading values with Fetch, and syncs one again only when its
// force-sync annotation changed, as ESO does between refresh intervals.
type ESOStandIn struct {
	C     *Cluster
	NS    string
	Store string
	Fetch func(key, property string) (string, error)
}

var esGVR = schema.GroupVersionResource{Group: "external-secrets.io", Version: "v1", Resource: "externalsecrets"}

// Reconcile syncs what needs syncing once.
func (e ESOStandIn) Reconcile(t testing.TB) {
	t.Helper()
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
}

// Run reconciles every interval until the test ends.
func (e ESOStandIn) Run(t testing.TB, interval time.Duration) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(interval):
				e.reconcile()
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

func (e ESOStandIn) reconcile() error {
	ctx := context.Background()
	r := e.C.Dynamic.Resource(esGVR).Namespace(e.NS)
	list, err := r.List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, es := range list.Items {
		if name, _, _ := unstructured.NestedString(es.Object, "spec", "secretStoreRef", "name"); name != e.Store {
			continue
		}
		force := es.GetAnnotations()["force-sync"]
		if synced, _, _ := unstructured.NestedString(es.Object, "status", "syncedResourceVersion"); synced != "" && synced == "force:"+force {
			continue
		}
		data := map[string]string{}
		ready, reason := "True", "SecretSynced"
		entries, _, _ := unstructured.NestedSlice(es.Object, "spec", "data")
		for _, x := range entries {
			m, _ := x.(map[string]any)
			key, _, _ := unstructured.NestedString(m, "remoteRef", "key")
			prop, _, _ := unstructured.NestedString(m, "remoteRef", "property")
			target, _, _ := unstructured.NestedString(m, "secretKey")
			v, err := e.Fetch(key, prop)
			if err != nil {
				ready, reason = "False", "SecretSyncedError"
				break
			}
			data[target] = v
		}
		target, _, _ := unstructured.NestedString(es.Object, "spec", "target", "name")
		if ready == "True" {
			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: target, Namespace: e.NS,
				Labels:          map[string]string{"reconcile.external-secrets.io/managed": "true"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "external-secrets.io/v1", Kind: "ExternalSecret", Name: es.GetName(), UID: es.GetUID()}}},
				StringData: data}
			_, err := e.C.Admin.CoreV1().Secrets(e.NS).Create(ctx, sec, metav1.CreateOptions{FieldManager: "external-secrets"})
			if apierrors.IsAlreadyExists(err) {
				_, err = e.C.Admin.CoreV1().Secrets(e.NS).Update(ctx, sec, metav1.UpdateOptions{FieldManager: "external-secrets"})
			}
			if err != nil {
				return err
			}
		}
		unstructured.SetNestedSlice(es.Object, []any{map[string]any{"type": "Ready", "status": ready, "reason": reason,
			"message": "synced by the test's stand-in", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}}, "status", "conditions")
		unstructured.SetNestedField(es.Object, "force:"+force, "status", "syncedResourceVersion")
		if _, err := r.UpdateStatus(ctx, &es, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
			return err
		}
	}
	return nil
}
