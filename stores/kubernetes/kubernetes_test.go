package kubernetes

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/internal/testenv/kubetest"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/stores"
	"github.com/vigilsec/vigil/stores/storetest"
)

// asVigil returns a store on the real API server with the credentials
// vigil is given in production: a token of the service account bound to
// the ClusterRole of examples/ (applied as it is published).
func asVigil(t *testing.T, c *kubetest.Cluster, namespaces []string, h stores.Hasher) *Store {
	t.Helper()
	return storeFor(t, c.Config(c.VigilToken(t)), namespaces, h)
}

func storeFor(t *testing.T, rc *rest.Config, namespaces []string, h stores.Hasher) *Store {
	t.Helper()
	core, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return New("test", core, dyn, namespaces, false, h, rules.DefaultControls())
}

// mkSecret creates a Secret as the admin (values as stringData, which the
// API server turns into data).
func mkSecret(t *testing.T, c *kubetest.Cluster, ns, name string, typ corev1.SecretType, data map[string]string, labels map[string]string, owner *metav1.OwnerReference) {
	t.Helper()
	c.Namespace(t, ns, nil)
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Type: typ, StringData: data}
	if owner != nil {
		s.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	if typ == corev1.SecretTypeServiceAccountToken {
		s.Annotations = map[string]string{corev1.ServiceAccountNameKey: "default"}
	}
	if _, err := c.Admin.CoreV1().Secrets(ns).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// The store conformance suite against a real kube-apiserver, as vigil's
// own service account, two Secrets a page.
func TestConformance(t *testing.T) {
	c := kubetest.Start(t)
	p := c.Prefix()
	ns := p + "conformance"
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T, h stores.Hasher) stores.Store {
			s := asVigil(t, c, []string{p + "*"}, h)
			s.page = 2
			return s
		},
		Seed: func(t *testing.T, name, value string) string {
			mkSecret(t, c, ns, name, corev1.SecretTypeOpaque, map[string]string{"token": value}, nil, nil)
			return "k8s:" + ns + "/" + name + "/token"
		},
		Paged: 3,
		Broken: func(t *testing.T) stores.Store {
			return storeFor(t, &rest.Config{Host: "https://127.0.0.1:1", TLSClientConfig: rest.TLSClientConfig{Insecure: true}}, []string{"*"}, nil)
		},
		Denied: func(t *testing.T) stores.Store {
			// A service account nothing is bound to.
			return storeFor(t, c.Config(c.ServiceAccount(t, p+"nobody", "nobody")), []string{p + "*"}, nil)
		},
	})
}

// With hashing off, no request of vigil's reads a Secret's data: the API
// server's audit log (secrets at RequestResponse level) holds no value of
// the planted Secrets for vigil's user, and no get. With hashing on it
// does (the check can fail).
func TestMetadataOnlyUnlessHashing(t *testing.T) {
	c := kubetest.Start(t)
	p := c.Prefix()
	value := testenv.FakeAWSKey()
	mkSecret(t, c, p+"audit", "warehouse", corev1.SecretTypeOpaque, map[string]string{"password": value, "user": "loader"}, nil, nil)
	encoded := base64.StdEncoding.EncodeToString([]byte(value))
	seen := func() (found bool, n int) {
		for _, e := range c.Audit(t, kubetest.VigilUser) {
			if e.ObjectRef == nil || e.ObjectRef.Resource != "secrets" || e.ObjectRef.Namespace != p+"audit" {
				continue
			}
			n++
			if e.Verb == "get" {
				t.Errorf("vigil read a Secret with get: %s", e.RequestURI)
			}
			found = found || strings.Contains(e.Raw, encoded) || strings.Contains(e.Raw, value)
		}
		return found, n
	}
	got := storetest.List(t, asVigil(t, c, []string{p + "audit"}, nil))
	if paths := pathsOf(got); strings.Join(paths, " ") != "k8s:"+p+"audit/warehouse/password k8s:"+p+"audit/warehouse/user" {
		t.Fatalf("listed %v", paths)
	}
	if got[0].Updated.IsZero() || got[0].Created.IsZero() {
		t.Errorf("no dates from metadata: %+v", got[0])
	}
	if found, n := seen(); found || n == 0 {
		t.Fatalf("metadata-only listing: %d audited secret requests, value in the response: %v", n, found)
	}
	key, _ := secrethash.New([]byte(strings.Repeat("k", 32)))
	hashed := storetest.List(t, asVigil(t, c, []string{p + "audit"}, key))
	if len(hashed[0].Hashes) != 1 || hashed[0].Hashes[0].Hash != key.Hash(value) {
		t.Fatalf("hashed listing: %+v", hashed[0].Hashes)
	}
	if found, _ := seen(); !found {
		t.Fatal("the audit log does not show the values even when vigil reads them: the metadata-only check proves nothing")
	}
}

func pathsOf(got []stores.Secret) []string {
	var out []string
	for _, s := range got {
		out = append(out, s.Path)
	}
	sort.Strings(out)
	return out
}

// Many namespaces, a namespace vigil may not read (RBAC bound per
// namespace): it is named in the error and the others are still listed.
func TestForbiddenNamespaceIsNamedAndOthersListed(t *testing.T) {
	c := kubetest.Start(t)
	p := c.Prefix()
	for _, ns := range []string{"a", "b", "c", "locked"} {
		mkSecret(t, c, p+ns, "s", corev1.SecretTypeOpaque, map[string]string{"k": testenv.FakeAWSKey()}, nil, nil)
	}
	token := c.ServiceAccount(t, p+"ops", "lister")
	asVigil(t, c, nil, nil) // the example's ClusterRole
	c.BindCluster(t, "vigil-inventory", p+"ops", "lister", p+"a", p+"b", p+"c")
	s := storeFor(t, c.Config(token), []string{p + "a", p + "b", p + "c", p + "locked"}, nil)
	var got []stores.Secret
	err := s.List(context.Background(), func(sec stores.Secret) { got = append(got, sec) })
	if err == nil || !strings.Contains(err.Error(), "namespace "+p+"locked: forbidden") || strings.Contains(err.Error(), p+"a:") {
		t.Fatalf("List: %v", err)
	}
	if paths := pathsOf(got); len(paths) != 3 {
		t.Fatalf("listed %v, want the three readable namespaces", paths)
	}
}

// The platform's own Secrets are classified, not undeclared; with
// report_generated they are ordinary secrets.
func TestGeneratedSecretsAreClassified(t *testing.T) {
	c := kubetest.Start(t)
	p := c.Prefix()
	ns := p + "apps"
	mkSecret(t, c, ns, "sa-token", corev1.SecretTypeServiceAccountToken, map[string]string{"token": testenv.FakeAWSKey()}, nil, nil)
	mkSecret(t, c, ns, "sh.helm.release.v1.etl.v3", "helm.sh/release.v1", map[string]string{"release": "H4sI"}, nil, nil)
	mkSecret(t, c, ns, "by-hand", corev1.SecretTypeOpaque, map[string]string{"password": testenv.FakeAWSKey()}, map[string]string{"owner": "data-platform"}, nil)
	got := storetest.List(t, asVigil(t, c, []string{ns}, nil))
	managed := map[string]string{}
	for _, s := range got {
		managed[s.Path] = s.ManagedBy
	}
	if managed["k8s:"+ns+"/sa-token/token"] == "" || managed["k8s:"+ns+"/sh.helm.release.v1.etl.v3/release"] == "" || managed["k8s:"+ns+"/by-hand/password"] != "" {
		t.Fatalf("classification: %v", managed)
	}
	if owner := got[0].Owner; got[0].Path == "k8s:"+ns+"/by-hand/password" && owner != "data-platform" {
		t.Errorf("owner label not read: %q", owner)
	}
	s := asVigil(t, c, []string{ns}, nil)
	s.reportGenerated = true
	for _, sec := range storetest.List(t, s) {
		if sec.ManagedBy != "" {
			t.Errorf("report_generated: %s still classified as %q", sec.Path, sec.ManagedBy)
		}
	}
}

// A kubeconfig file and context from vigil.yaml open the store; a missing
// file is a failed store named in the error.
func TestOpenFromKubeconfig(t *testing.T) {
	c := kubetest.Start(t)
	p := c.Prefix()
	mkSecret(t, c, p+"cfg", "db", corev1.SecretTypeOpaque, map[string]string{"password": testenv.FakeAWSKey()}, nil, nil)
	token := c.ServiceAccount(t, "vigil", "vigil")
	asVigil(t, c, nil, nil) // the example's binding
	rc, err := RESTConfig(config.KubernetesCluster{Name: "prod", Kubeconfig: c.Kubeconfig(t, token), Context: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if got := storetest.List(t, storeFor(t, rc, []string{p + "cfg"}, nil)); len(got) != 1 {
		t.Fatalf("listed %d", len(got))
	}
	if _, err := RESTConfig(config.KubernetesCluster{Name: "prod", Kubeconfig: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Fatal("a missing kubeconfig opened")
	}
}

// SealedSecret objects in the cluster are listed from their metadata and
// the names of their encrypted keys, with their scope; the Secret the
// controller unsealed from one is classified as its copy.
func TestSealedSecretObjects(t *testing.T) {
	c := kubetest.Start(t)
	p := c.Prefix()
	ns := p + "sealed"
	c.Namespace(t, ns, nil)
	c.Apply(t, ns, []byte(`apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: db
  annotations: {sealedsecrets.bitnami.com/namespace-wide: "true"}
  labels: {owner: data-platform}
spec:
  encryptedData: {password: AgBy3i4OJSWK+PiTySYZZA==, user: AgCd1+h1w==}
  template: {metadata: {name: db}}
`))
	mkSecret(t, c, ns, "db", corev1.SecretTypeOpaque, map[string]string{"password": testenv.FakeAWSKey(), "user": "etl"}, nil,
		&metav1.OwnerReference{APIVersion: "bitnami.com/v1alpha1", Kind: "SealedSecret", Name: "db", UID: "00000000-0000-0000-0000-000000000001"})
	s := asVigil(t, c, []string{ns}, nil)
	got := storetest.List(t, s)
	by := map[string]stores.Secret{}
	for _, sec := range got {
		by[sec.Path] = sec
	}
	for _, k := range []string{"password", "user"} {
		sealed, ok := by["sealed:"+ns+"/db/"+k]
		if !ok || !strings.Contains(sealed.Where, "namespace-wide") || sealed.Owner != "data-platform" {
			t.Errorf("sealed:%s/db/%s: %+v", ns, k, sealed)
		}
		if cp := by["k8s:"+ns+"/db/"+k]; !strings.HasPrefix(cp.ManagedBy, "SealedSecret "+ns+"/db") {
			t.Errorf("the unsealed copy of %s is not classified: %q", k, cp.ManagedBy)
		}
	}
	covers := strings.Join(s.Covers(), " ")
	if !strings.Contains(covers, "sealed:"+ns+"/") || !strings.Contains(covers, "k8s:"+ns+"/") {
		t.Errorf("covers %s", covers)
	}
}
