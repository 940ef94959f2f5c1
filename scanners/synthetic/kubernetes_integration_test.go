package synthetic

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/ledger"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/internal/testenv/kubetest"
	"github.com/vigilsec/vigil/rules"
)

// kubeSetup makes, on the real API server: namespaces etl and prod with a
// Secret each; service account etl/loader allowed exactly its own Secret
// and listing in etl; etl/wide allowed to read Secrets everywhere. The
// issuer is vigil's service account from examples/, with its ClusterRoles.
func kubeSetup(t *testing.T) (c *kubetest.Cluster, p string, iss *KubernetesIssuer, values []string) {
	t.Helper()
	c = kubetest.Start(t)
	p = c.Prefix()
	ctx := context.Background()
	for _, ns := range []string{"etl", "prod"} {
		c.Namespace(t, p+ns, nil)
		v := testenv.FakeAWSKey()
		values = append(values, v)
		name := map[string]string{"etl": "warehouse", "prod": "db"}[ns]
		if _, err := c.Admin.CoreV1().Secrets(p+ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: map[string]string{"password": v}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, sa := range []string{"loader", "wide"} {
		c.ServiceAccount(t, p+"etl", sa)
	}
	c.Grant(t, p+"etl", "loader", "loader",
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}, ResourceNames: []string{"warehouse"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list"}})
	if _, err := c.Admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: p + "read-secrets"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list"}},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.BindCluster(t, p+"read-secrets", p+"etl", "wide")

	rc := c.Config(c.VigilToken(t))
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return c, p, &KubernetesIssuer{Cluster: "test", Config: rc, Client: client}, values
}

func kubeIdentities(p string, names ...string) string {
	var b strings.Builder
	b.WriteString("identities:\n")
	for _, n := range names {
		fmt.Fprintf(&b, `  - name: %[2]s
    kind: kubernetes
    cluster: test
    namespace: %[1]setl
    service_account: %[2]s
    probes:
      allow:
        - get secrets/%[1]setl/warehouse
        - list secrets/%[1]setl
      deny:
        - get secrets/%[1]sprod/db
        - list secrets/%[1]sprod
`, p, n)
	}
	return b.String()
}

// Tokens bound to a Secret vigil makes: the exact Role passes, the
// ClusterRole that reads every namespace is caught on both prod probes,
// each token is refused once its Secret is deleted, and neither a token
// nor a value reaches the ledger.
func TestKubernetesLeastPrivilege(t *testing.T) {
	c, p, kiss, values := kubeSetup(t)
	st, _ := testenv.Store(t)
	iss := &capture{Issuer: kiss}
	s := &Scanner{Identities: loadIdentities(t, kubeIdentities(p, "loader", "wide")), Issuers: map[string]Issuer{"kubernetes:test": iss},
		Ledger: st, Controls: rules.DefaultControls(), RevokeWait: 30 * time.Second}
	res := scan(t, s)
	for _, r := range res {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Source, r.Err)
		}
	}
	if fs := res["synthetic:loader"].Findings; len(fs) != 0 {
		t.Errorf("exact Role: %+v", fs)
	}
	k := kinds(res["synthetic:wide"].Findings)
	if got := strings.Join(k[finding.KindSynDeniedAllowed], ", "); len(k) != 1 || got != "get secrets/"+p+"prod/db, list secrets/"+p+"prod" {
		t.Errorf("ClusterRole over every namespace: %v", k)
	}
	var tokens []string
	for name, rec := range ledgerRows(t, st) {
		if rec.Status != ledger.Cleaned || rec.Revocation["verified"] != true || rec.Revocation["deleted"] != float64(1) || len(rec.Probes) != 4 {
			t.Errorf("%s: %+v", name, rec)
		}
		if got := rec.ExpiresAt.Sub(rec.IssuedAt); got > minTokenLife+time.Minute {
			t.Errorf("%s: the token lives %s, not the shortest the API server allows", name, got)
		}
		// Revoked: the token is refused, and its Secret is gone.
		cred := iss.creds[name].(*kubeCredential)
		if out := cred.Probe(context.Background(), rules.Probe{Action: "get", Target: "secrets/" + p + "etl/warehouse"}); out.Result == Allowed {
			t.Errorf("%s: the token still reads after revocation", name)
		}
		l, _ := c.Admin.CoreV1().Secrets(p+"etl").List(context.Background(), metav1.ListOptions{LabelSelector: ledgerLabel})
		if len(l.Items) != 0 {
			t.Errorf("bound Secrets left: %d", len(l.Items))
		}
		tokens = append(tokens, cred.token)
	}
	assertAbsent(t, st, append(tokens, values...)...)
}

// When the bound Secret is not deleted, the token keeps working and the
// check says so.
func TestKubernetesNotRevoked(t *testing.T) {
	_, p, kiss, _ := kubeSetup(t)
	st, _ := testenv.Store(t)
	s := &Scanner{Identities: loadIdentities(t, kubeIdentities(p, "loader")), Issuers: map[string]Issuer{"kubernetes:test": &capture{Issuer: kiss, sabotage: true}},
		Ledger: st, Controls: rules.DefaultControls(), RevokeWait: time.Second}
	r := scan(t, s)["synthetic:loader"]
	if len(r.Findings) != 1 || r.Findings[0].Kind != finding.KindSynNotRevoked {
		t.Fatalf("%v %+v", r.Err, r.Findings)
	}
	rec := ledgerRows(t, st)["loader"]
	if err := kiss.Revoke(context.Background(), &rec); err != nil {
		t.Fatal(err)
	}
}

// A run killed after the token was minted but before its id was recorded
// leaves an "issuing" row; the next run finds the bound Secret by the
// ledger label and deletes it, and the token is refused.
func TestKubernetesCrashRecovery(t *testing.T) {
	_, p, iss, _ := kubeSetup(t)
	st, _ := testenv.Store(t)
	ids := loadIdentities(t, kubeIdentities(p, "loader"))
	ctx := context.Background()
	rec := &ledger.Credential{ID: newLedgerID(), RunID: "killed", Issuer: iss.Key(), Identity: "loader", Status: ledger.Issuing}
	cred, err := iss.Issue(ctx, &ids[0], rec, time.Minute, func() error { return st.SaveCredential(ctx, rec) })
	if err != nil {
		t.Fatal(err)
	}
	if out := cred.Verify(ctx, nil, 0); out.Result != Allowed {
		t.Fatalf("fresh token: %+v", out)
	}
	s := &Scanner{Issuers: map[string]Issuer{iss.Key(): iss}, Ledger: st, RevokeWait: 30 * time.Second}
	if err := s.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ledgerRows(t, st)["loader"]; got.Status != ledger.Cleaned || got.Revocation["recovered"] != true {
		t.Fatalf("after recovery: %+v", got)
	}
	if out := cred.Verify(ctx, nil, 30*time.Second); out.Result != Denied {
		t.Fatalf("the crashed run's token still works: %+v", out)
	}
}
