package rbac

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vigilsec/vigil/internal/testenv/kubetest"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners"
)

// On a real API server, read as vigil's service account from examples/:
// loader's Role is exactly what it declares; wide has a ClusterRole over
// every namespace's Secrets (excess, in the declared namespace too as
// every-namespace scope) and lacks a declared configmaps read (missing); a
// binding to the group every service account of a namespace is in counts.
func TestRBACDriftBothWays(t *testing.T) {
	c := kubetest.Start(t)
	p := c.Prefix()
	ctx := context.Background()
	etl := p + "etl"
	for _, sa := range []string{"loader", "wide", "grouped"} {
		c.ServiceAccount(t, etl, sa)
	}
	mk := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	c.Grant(t, etl, "loader", "loader",
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}, ResourceNames: []string{"warehouse"}},
		rbacv1.PolicyRule{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"list", "watch"}})
	_, err := c.Admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: p + "read-secrets"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list"}},
	}}, metav1.CreateOptions{})
	mk(err)
	c.BindCluster(t, p+"read-secrets", etl, "wide")
	// Every service account of the namespace may list pods there.
	_, err = c.Admin.RbacV1().Roles(etl).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "pods"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}}}}, metav1.CreateOptions{})
	mk(err)
	_, err = c.Admin.RbacV1().RoleBindings(etl).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "all-sa-pods"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "pods"},
		Subjects: []rbacv1.Subject{{Kind: "Group", Name: "system:serviceaccounts:" + etl}}}, metav1.CreateOptions{})
	mk(err)

	ids := fmt.Sprintf(`identities:
  - name: loader
    kind: kubernetes
    cluster: test
    namespace: %[1]s
    service_account: loader
    rbac:
      - {verbs: [get], resources: [secrets], names: [warehouse]}
      - {verbs: [list, watch], resources: [jobs], api_groups: [batch]}
      - {verbs: [list], resources: [pods]}
  - name: wide
    kind: kubernetes
    cluster: test
    namespace: %[1]s
    service_account: wide
    rbac:
      - {verbs: [get], resources: [secrets], names: [warehouse]}
      - {verbs: [get], resources: [configmaps]}
      - {verbs: [list], resources: [pods]}
`, etl)
	f := filepath.Join(t.TempDir(), "identities.yaml")
	os.WriteFile(f, []byte(ids), 0o644)
	declared, err := rules.LoadIdentities(f)
	if err != nil {
		t.Fatal(err)
	}
	vigil, err := kubernetes.NewForConfig(c.Config(c.VigilToken(t)))
	if err != nil {
		t.Fatal(err)
	}
	s := &Scanner{Identities: declared, Clusters: map[string]kubernetes.Interface{"test": vigil}, Controls: rules.DefaultControls()}
	got := map[string][]string{}
	err = s.Scan(ctx, nil, func(r scanners.Result) {
		if r.Err != nil || r.Mode != scanners.Full {
			t.Errorf("%s: %v %v", r.Source, r.Mode, r.Err)
		}
		for _, f := range r.Findings {
			got[r.Source.Name] = append(got[r.Source.Name], string(f.Kind)+": "+f.Evidence.String("grant")+f.Evidence.String("missing"))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got["loader"]) != 0 {
		t.Errorf("loader, exactly as declared: %v", got["loader"])
	}
	sort.Strings(got["wide"])
	want := []string{
		"iam.rbac_excess_grant: get,list secrets in every namespace",
		"iam.rbac_missing_grant: get configmaps in " + etl,
	}
	if strings.Join(got["wide"], "\n") != strings.Join(want, "\n") {
		t.Errorf("wide:\n%s\nwant:\n%s", strings.Join(got["wide"], "\n"), strings.Join(want, "\n"))
	}

	// A cluster that can't be read leaves its identities partial.
	s.Clusters["test"], _ = kubernetes.NewForConfig(c.Config("not-a-token"))
	err = s.Scan(ctx, nil, func(r scanners.Result) {
		if r.Mode != scanners.Partial || !strings.Contains(fmt.Sprint(r.Err), "kubernetes:test") {
			t.Errorf("unreadable cluster: %s %v %v", r.Source, r.Mode, r.Err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}
