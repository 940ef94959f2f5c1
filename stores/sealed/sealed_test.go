package sealed

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ssv1 "github.com/bitnami-labs/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	sscrypto "github.com/bitnami-labs/sealed-secrets/pkg/crypto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/stores"
	"github.com/vigilsec/vigil/stores/storetest"
)

// seal encrypts value as kubeseal does, with the sealed-secrets library's
// own hybrid encryption and scope label.
func seal(t *testing.T, key *rsa.PrivateKey, ns, name string, scope ssv1.SealingScope, value string) string {
	t.Helper()
	ct, err := sscrypto.HybridEncrypt(rand.Reader, &key.PublicKey, []byte(value), ssv1.EncryptionLabel(ns, name, scope))
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(ct)
}

func sealedYAML(ns, name, annotation string, data map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: %s\n  namespace: %s\n", name, ns)
	if annotation != "" {
		fmt.Fprintf(&b, "  annotations:\n    %s: \"true\"\n", annotation)
	}
	b.WriteString("spec:\n  encryptedData:\n")
	for k, v := range data {
		fmt.Fprintf(&b, "    %s: %s\n", k, v)
	}
	b.WriteString("  template:\n    metadata:\n      name: " + name + "\n      namespace: " + ns + "\n")
	return b.String()
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The scope rule and labels written out in this package are the library's.
func TestLabelsMatchTheLibrary(t *testing.T) {
	for _, ann := range []map[string]string{nil, {clusterWide: "true"}, {namespaceWide: "true"}, {clusterWide: "true", namespaceWide: "true"}, {namespaceWide: "false"}} {
		want := ssv1.SecretScope(&metav1.ObjectMeta{Name: "db", Namespace: "etl", Annotations: ann})
		if got := scopeOf(ann); got != want.String() {
			t.Errorf("%v: scope %q, the library's %q", ann, got, want.String())
		}
		if got, lib := label("etl", "db", scopeOf(ann)), ssv1.EncryptionLabel("etl", "db", want); string(got) != string(lib) {
			t.Errorf("%v: label %q, the library's %q", ann, got, lib)
		}
	}
}

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	key := rsaKey(t)
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T, h stores.Hasher) stores.Store {
			return New(dir, []string{filepath.Join(dir, "*.yaml")}, []*rsa.PrivateKey{key}, h)
		},
		Seed: func(t *testing.T, name, value string) string {
			m := sealedYAML("etl", name, "", map[string]string{"token": seal(t, key, "etl", name, ssv1.StrictScope, value)})
			if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(m), 0o600); err != nil {
				t.Fatal(err)
			}
			return "sealed:etl/" + name + "/token"
		},
		Broken: func(t *testing.T) stores.Store {
			bad := t.TempDir()
			os.WriteFile(filepath.Join(bad, "x.yaml"), []byte("kind: SealedSecret\nmetadata: [unclosed\n"), 0o600)
			return New(bad, []string{filepath.Join(bad, "*.yaml")}, nil, nil)
		},
	})
}

// Scopes, several objects a file among other kinds, the controller's key
// in PEM, a key that does not match, and no value in any error.
func TestScopesKeysAndErrors(t *testing.T) {
	dir := t.TempDir()
	key, other := rsaKey(t), rsaKey(t)
	pw, tok, hook := testenv.FakeAWSKey(), testenv.FakeGitHubToken(), testenv.FakeAWSKey()
	file := strings.Join([]string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: etl-config\n",
		sealedYAML("etl", "db", "", map[string]string{"password": seal(t, key, "etl", "db", ssv1.StrictScope, pw)}),
		sealedYAML("etl", "ci", "sealedsecrets.bitnami.com/namespace-wide", map[string]string{"token": seal(t, key, "etl", "", ssv1.NamespaceWideScope, tok)}),
		sealedYAML("ops", "alerts", "sealedsecrets.bitnami.com/cluster-wide", map[string]string{"webhook": seal(t, key, "", "", ssv1.ClusterWideScope, hook)}),
	}, "---\n")
	os.WriteFile(filepath.Join(dir, "secrets.yaml"), []byte(file), 0o600)
	pemFile := filepath.Join(dir, "controller.key")
	os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	keys, err := readKeys(pemFile)
	if err != nil || len(keys) != 1 {
		t.Fatalf("%v %d", err, len(keys))
	}
	globs := []string{filepath.Join(dir, "*.yaml")}

	got := storetest.List(t, New(dir, globs, nil, nil))
	var paths []string
	for _, s := range got {
		paths = append(paths, s.Path+" "+s.Where[strings.Index(s.Where, "(")+1:])
		if s.Updated.IsZero() || len(s.Hashes) > 0 {
			t.Errorf("%+v", s)
		}
	}
	want := "sealed:etl/ci/token scope namespace-wide), sealed:etl/db/password scope strict), sealed:ops/alerts/webhook scope cluster-wide)"
	if strings.Join(paths, ", ") != want {
		t.Fatalf("%v", paths)
	}
	h, _ := secrethash.New([]byte(strings.Repeat("k", 32)))
	hashed := map[string]string{}
	for _, s := range storetest.List(t, New(dir, globs, keys, h)) {
		hashed[s.Path] = s.Hashes[0].Hash
	}
	if hashed["sealed:etl/db/password"] != h.Hash(pw) || hashed["sealed:etl/ci/token"] != h.Hash(tok) || hashed["sealed:ops/alerts/webhook"] != h.Hash(hook) {
		t.Fatalf("hashes %v", hashed)
	}
	// Another controller's key: every value is an error naming its place;
	// the listing still reports the secrets.
	n := 0
	err = New(dir, globs, []*rsa.PrivateKey{other}, h).List(t.Context(), func(stores.Secret) { n++ })
	if err == nil || n != 3 || !strings.Contains(err.Error(), "secrets.yaml:") || !strings.Contains(err.Error(), "etl/db key password") {
		t.Fatalf("wrong key: %v (%d listed)", err, n)
	}
	// A sealed value moved to another name no longer unseals (strict scope).
	moved := strings.Replace(file, "name: db\n  namespace: etl", "name: db2\n  namespace: etl", 1)
	os.WriteFile(filepath.Join(dir, "secrets.yaml"), []byte(moved), 0o600)
	if err := New(dir, globs, keys, h).List(t.Context(), func(stores.Secret) {}); err == nil || !strings.Contains(err.Error(), "etl/db2") {
		t.Fatalf("moved: %v", err)
	}
	if _, err := readKeys(filepath.Join(dir, "secrets.yaml")); err == nil {
		t.Fatal("a file without a PEM key was read as keys")
	}
}

// A glob whose directory is missing is an error, never an empty listing;
// a symlink out of the glob's directory is not read.
func TestMissingDirectoryAndEscapingLinks(t *testing.T) {
	dir := t.TempDir()
	if err := New(dir, []string{"k8s/*.yaml"}, nil, nil).List(t.Context(), func(stores.Secret) {}); err == nil || !strings.Contains(err.Error(), "k8s") {
		t.Fatalf("missing directory: %v", err)
	}
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "s.yaml"), []byte(sealedYAML("etl", "db", "", map[string]string{"password": "AgB="})), 0o600)
	os.MkdirAll(filepath.Join(dir, "k8s"), 0o755)
	os.Symlink(filepath.Join(outside, "s.yaml"), filepath.Join(dir, "k8s", "s.yaml"))
	if got := storetest.List(t, New(dir, []string{"k8s/*.yaml"}, nil, nil)); len(got) != 0 {
		t.Fatalf("a symlink out of the directory was read: %+v", got)
	}
}
