// Package kubetest starts the Kubernetes control plane the tests use: a real
// kube-apiserver and etcd, built from the Go module proxy by `make test`
// (the module in build/, into .cache/kube/bin) and started once per test
// binary on loopback, with RBAC on, an audit log of every request (secrets
// at RequestResponse level, so a test can prove what was and wasn't read),
// and the CustomResourceDefinitions of External Secrets Operator and Sealed
// Secrets loaded from the files of their published Go modules. It is apart
// from testenv so that only the tests that need a cluster import client-go's
// dynamic and discovery machinery.
package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/internal/testenv/watchdog"
)

// ESOModule and SealedSecretsModule are the published modules whose CRD
// files the cluster is given (the Sealed Secrets one is vigil's own
// dependency; the ESO one is downloaded by the go command on first use).
const (
	ESOModule           = "github.com/external-secrets/external-secrets@v0.16.2"
	SealedSecretsModule = "github.com/bitnami-labs/sealed-secrets"
)

// Cluster is the running control plane.
type Cluster struct {
	URL        string
	CAFile     string // the API server's self-signed serving certificate
	AuditLog   string
	adminToken string
	Admin      *kubernetes.Clientset
	Dynamic    dynamic.Interface
	mapper     *restmapper.DeferredDiscoveryRESTMapper
	n          atomic.Int64
}

var (
	once    sync.Once
	cluster *Cluster
	errUp   error
)

// Start returns the test binary's cluster, starting it on first use. The
// binaries missing fail the test in CI and skip it elsewhere (`make test`
// builds them).
func Start(t testing.TB) *Cluster {
	t.Helper()
	once.Do(func() { cluster, errUp = start() })
	if errUp != nil {
		if os.Getenv("CI") == "true" || !errors.Is(errUp, errNoBinaries) {
			t.Fatalf("kubernetes: %v", errUp)
		}
		t.Skipf("kubernetes: %v", errUp)
	}
	return cluster
}

var errNoBinaries = errors.New("kube-apiserver and etcd are not built (make test builds them into .cache/kube/bin)")

// moduleRoot is the root of the vigil module the test runs in.
func moduleRoot() (string, error) {
	dir, _ := os.Getwd()
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/vigilsec/vigil\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the vigil module")
		}
		dir = parent
	}
}

// binDir finds the built binaries: $VIGIL_KUBE_BIN, or .cache/kube/bin at
// the root of the vigil module the test runs in.
func binDir() (string, error) {
	if d := os.Getenv("VIGIL_KUBE_BIN"); d != "" {
		return d, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", errNoBinaries
	}
	d := filepath.Join(root, ".cache", "kube", "bin")
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(d, bin)); err != nil {
			return "", errNoBinaries
		}
	}
	return d, nil
}

// run starts bin with its output in dir/NAME.log; it dies with the test
// binary, whatever way that ends.
func run(dir, bin string, args ...string) (*exec.Cmd, string, error) {
	logPath := filepath.Join(dir, filepath.Base(bin)+".log")
	log, err := os.Create(logPath)
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd, logPath, cmd.Start()
}

const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: RequestResponse
  resources: [{group: "", resources: ["secrets"]}]
- level: Metadata
`

func start() (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "vigil-kube-")
	if err != nil {
		return nil, err
	}
	etcdPort, _ := testenv.FreePort()
	peerPort, _ := testenv.FreePort()
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	etcd, etcdLog, err := run(dir, filepath.Join(bin, "etcd"), "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL, "--initial-cluster", "default="+peerURL,
		"--unsafe-no-fsync", "--log-level", "warn")
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start etcd: %w", err)
	}

	// The service-account signing key (TokenRequest), a static admin token
	// (system:masters) and the audit policy.
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	saKey := write("sa.key", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	saPub := write("sa.pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	token := fmt.Sprintf("admin-%x", key.PublicKey.N.Bytes()[:16])
	tokens := write("tokens.csv", []byte(token+",test-admin,test-admin,system:masters\n"))
	policy := write("audit-policy.yaml", []byte(auditPolicy))
	audit := filepath.Join(dir, "audit.log")

	port, _ := testenv.FreePort()
	api, apiLog, err := run(dir, filepath.Join(bin, "kube-apiserver"),
		"--etcd-servers", etcdURL, "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", fmt.Sprint(port), "--cert-dir", filepath.Join(dir, "certs"),
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", saPub, "--service-account-signing-key-file", saKey,
		"--service-cluster-ip-range", "10.0.0.0/24", "--authorization-mode", "RBAC",
		"--token-auth-file", tokens, "--audit-log-path", audit, "--audit-policy-file", policy,
		"--endpoint-reconciler-type", "none", "--enable-priority-and-fairness=false")
	if err != nil {
		etcd.Process.Kill()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start kube-apiserver: %w", err)
	}
	// Both die with the test binary; their directory (etcd's data is 125
	// MB) goes then too.
	if err := watchdog.CleanUpWithParent(dir, etcd.Process.Pid, api.Process.Pid); err != nil {
		api.Process.Kill()
		etcd.Process.Kill()
		return nil, err
	}
	c := &Cluster{URL: fmt.Sprintf("https://127.0.0.1:%d", port), CAFile: filepath.Join(dir, "certs", "apiserver.crt"), AuditLog: audit, adminToken: token}
	fail := func(err error) (*Cluster, error) {
		api.Process.Kill()
		etcd.Process.Kill()
		a, _ := os.ReadFile(apiLog)
		e, _ := os.ReadFile(etcdLog)
		return nil, fmt.Errorf("%w\nkube-apiserver:\n%s\netcd:\n%s", err, tail(a), tail(e))
	}
	if err := c.waitReady(90 * time.Second); err != nil {
		return fail(err)
	}
	cfg := c.Config(token)
	if c.Admin, err = kubernetes.NewForConfig(cfg); err != nil {
		return fail(err)
	}
	if c.Dynamic, err = dynamic.NewForConfig(cfg); err != nil {
		return fail(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fail(err)
	}
	c.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	if err := c.loadCRDs(); err != nil {
		return fail(err)
	}
	return c, nil
}

func tail(b []byte) []byte {
	if len(b) > 4000 {
		return b[len(b)-4000:]
	}
	return b
}

// waitReady polls /readyz until the API server (and its RBAC bootstrap)
// is ready.
func (c *Cluster) waitReady(limit time.Duration) error {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(limit)
	last := "no answer"
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", c.URL+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+c.adminToken)
		if resp, err := hc.Do(req); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			last = resp.Status + ": " + string(b)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("kube-apiserver not ready within %s: %s", limit, last)
}

// Config is a client configuration for the cluster with token.
func (c *Cluster) Config(token string) *rest.Config {
	return &rest.Config{Host: c.URL, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAFile: c.CAFile}, QPS: 200, Burst: 400}
}

// Kubeconfig writes a kubeconfig file for token (context "test") and
// returns its path.
func (c *Cluster) Kubeconfig(t testing.TB, token string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	doc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q, certificate-authority: %q}}]
users: [{name: test, user: {token: %q}}]
contexts: [{name: test, context: {cluster: test, user: test}}]
current-context: test
`, c.URL, c.CAFile, token)
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Prefix returns a name prefix no other test uses, for the namespaces a
// test creates (tests share the cluster).
func (c *Cluster) Prefix() string { return fmt.Sprintf("t%d-", c.n.Add(1)) }

// Namespace creates a namespace.
func (c *Cluster) Namespace(t testing.TB, name string, labels map[string]string) {
	t.Helper()
	_, err := c.Admin.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// ServiceAccount creates the service account ns/name (and ns) and returns a
// token for it from the TokenRequest API, valid for an hour.
func (c *Cluster) ServiceAccount(t testing.TB, ns, name string) string {
	t.Helper()
	ctx := context.Background()
	c.Namespace(t, ns, nil)
	_, err := c.Admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	hour := int64(3600)
	tr, err := c.Admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &hour}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// BindCluster binds the ClusterRole role to the service account ns/sa:
// cluster-wide, or in each of namespaces only (RoleBindings).
func (c *Cluster) BindCluster(t testing.TB, role, ns, sa string, namespaces ...string) {
	t.Helper()
	if len(namespaces) == 0 {
		c.bind(t, "", "ClusterRole", role, ns+"-"+sa+"-"+role, ns, sa)
	}
	for _, in := range namespaces {
		c.Namespace(t, in, nil)
		c.bind(t, in, "ClusterRole", role, ns+"-"+sa+"-"+role, ns, sa)
	}
}

// bind makes the binding name of role (kind Role or ClusterRole) to the
// service account ns/sa: a RoleBinding in namespace in, or a
// ClusterRoleBinding when in is "".
func (c *Cluster) bind(t testing.TB, in, kind, role, name, ns, sa string) {
	t.Helper()
	meta := metav1.ObjectMeta{Name: name}
	ref := rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: kind, Name: role}
	subjects := []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: sa}}
	var err error
	if in == "" {
		_, err = c.Admin.RbacV1().ClusterRoleBindings().Create(context.Background(), &rbacv1.ClusterRoleBinding{ObjectMeta: meta, RoleRef: ref, Subjects: subjects}, metav1.CreateOptions{})
	} else {
		_, err = c.Admin.RbacV1().RoleBindings(in).Create(context.Background(), &rbacv1.RoleBinding{ObjectMeta: meta, RoleRef: ref, Subjects: subjects}, metav1.CreateOptions{})
	}
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// VigilUser is the service account examples/kubernetes/vigil-clusterrole.yaml
// makes for vigil, as the API server's audit log names it.
const VigilUser = "system:serviceaccount:vigil:vigil"

// VigilToken applies examples/kubernetes/vigil-clusterrole.yaml as it is
// published (vigil's service account and ClusterRoles) and returns a token
// of that service account: the credentials vigil is given in production.
func (c *Cluster) VigilToken(t testing.TB) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "examples", "kubernetes", "vigil-clusterrole.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c.Apply(t, "", b)
	return c.ServiceAccount(t, "vigil", "vigil")
}

// Grant gives the service account ns/sa a Role named name in ns with
// rules, bound to it.
func (c *Cluster) Grant(t testing.TB, ns, sa, name string, rules ...rbacv1.PolicyRule) {
	t.Helper()
	ctx := context.Background()
	c.Namespace(t, ns, nil)
	if _, err := c.Admin.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.bind(t, ns, "Role", name, name, ns, sa)
}

// Apply creates or updates every object of a multi-document YAML with
// server-side apply as the admin (field manager "test"); an object without
// a namespace that needs one goes into ns.
func (c *Cluster) Apply(t testing.TB, ns string, docs []byte) {
	t.Helper()
	if err := c.apply(ns, docs, "test", false); err != nil {
		t.Fatal(err)
	}
}

// DryRun has the server validate docs fully (schema, defaults, admission)
// with a server-side dry run, storing nothing.
func (c *Cluster) DryRun(ns string, docs []byte) error { return c.apply(ns, docs, "test", true) }

func (c *Cluster) apply(ns string, docs []byte, manager string, dry bool) error {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(docs), 4096)
	for {
		var obj unstructured.Unstructured
		if err := dec.Decode(&obj.Object); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if len(obj.Object) == 0 {
			continue
		}
		gvk := obj.GroupVersionKind()
		m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			c.mapper.Reset()
			if m, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
				return fmt.Errorf("%s: %w", gvk, err)
			}
		}
		var r dynamic.ResourceInterface = c.Dynamic.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			if obj.GetNamespace() == "" {
				obj.SetNamespace(ns)
			}
			r = c.Dynamic.Resource(m.Resource).Namespace(obj.GetNamespace())
		}
		opts := metav1.ApplyOptions{FieldManager: manager, Force: true}
		if dry {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		if _, err := r.Apply(context.Background(), obj.GetName(), &obj, opts); err != nil {
			return fmt.Errorf("%s %s/%s: %w", gvk.Kind, obj.GetNamespace(), obj.GetName(), err)
		}
	}
}

// loadCRDs installs ESO's and Sealed Secrets' CRDs from their modules'
// files and waits until they are served.
func (c *Cluster) loadCRDs() error {
	eso, err := testenv.ModuleDir(ESOModule)
	if err != nil {
		return err
	}
	ss, err := testenv.ModuleDir(SealedSecretsModule)
	if err != nil {
		return err
	}
	files := []string{filepath.Join(ss, "helm", "sealed-secrets", "crds", "bitnami.com_sealedsecrets.yaml")}
	for _, n := range []string{"externalsecrets", "secretstores", "clustersecretstores", "pushsecrets"} {
		files = append(files, filepath.Join(eso, "config", "crds", "bases", "external-secrets.io_"+n+".yaml"))
	}
	crd := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var obj unstructured.Unstructured
		if err := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096).Decode(&obj.Object); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		// Server-side apply would keep the whole schema in managedFields;
		// a create is enough for a fresh cluster.
		if _, err := c.Dynamic.Resource(crd).Create(context.Background(), &obj, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		names = append(names, obj.GetName())
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range names {
		for {
			o, err := c.Dynamic.Resource(crd).Get(context.Background(), n, metav1.GetOptions{})
			if err == nil && established(o) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("CRD %s not established: %v", n, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	c.mapper.Reset()
	return nil
}

func established(o *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	for _, x := range conds {
		if m, ok := x.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// AuditEvent is the part of an audit log line the tests read.
type AuditEvent struct {
	Verb       string `json:"verb"`
	RequestURI string `json:"requestURI"`
	User       struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource  string `json:"resource"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	// Raw is the whole line, response body included (secrets are logged at
	// RequestResponse level).
	Raw string `json:"-"`
}

// Audit returns the audit log's events of user.
func (c *Cluster) Audit(t testing.TB, user string) []AuditEvent {
	t.Helper()
	b, err := os.ReadFile(c.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	var out []AuditEvent
	for _, line := range bytes.Split(b, []byte("\n")) {
		var e AuditEvent
		if json.Unmarshal(line, &e) != nil || e.User.Username != user {
			continue
		}
		e.Raw = string(line)
		out = append(out, e)
	}
	return out
}
