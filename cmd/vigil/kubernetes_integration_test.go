package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/internal/testenv/kubetest"
)

// One `vigil run` over a real cluster, as vigil's service account from
// examples/: the Kubernetes store lists and hashes the cluster's Secrets,
// a value leaked in git is matched to its Secret (leak.live), the declared
// kubernetes identity's RBAC matches its Role, its synthetic check mints,
// probes and revokes a bound token, and no value or token comes out in any
// output, report or database byte.
func TestRunOverAKubernetesCluster(t *testing.T) {
	c := kubetest.Start(t)
	ctx := context.Background()
	p := c.Prefix()
	ns := p + "prod"
	live := testenv.FakeAWSKey()
	c.Namespace(t, ns, nil)
	if _, err := c.Admin.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "warehouse"},
		StringData: map[string]string{"password": live}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.ServiceAccount(t, ns, "loader")
	c.Grant(t, ns, "loader", "loader",
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}, ResourceNames: []string{"warehouse"}})
	token := c.VigilToken(t)

	r := testenv.NewRepo(t)
	r.Commit("oops", map[string]string{"deploy/env.sh": "export AWS_ACCESS_KEY_ID=" + live + "\n"})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "secrets.yaml"), []byte(fmt.Sprintf("secrets:\n  - {path: \"k8s:%s/warehouse/password\", owner: data, env: prod}\n", ns)), 0o644)
	os.WriteFile(filepath.Join(dir, "identities.yaml"), []byte(fmt.Sprintf(`identities:
  - name: loader
    kind: kubernetes
    cluster: test
    namespace: %[1]s
    service_account: loader
    rbac:
      - {verbs: [get], resources: [secrets], names: [warehouse]}
    probes:
      allow: ["get secrets/%[1]s/warehouse"]
      deny: ["list secrets/%[1]s"]
`, ns)), 0o644)
	os.WriteFile(filepath.Join(dir, "vigil.yaml"), []byte(fmt.Sprintf(`db: state/vigil.db
rules:
  inventory: secrets.yaml
  identities: identities.yaml
sources:
  git:
    - name: etl
      path: %s
synthetic:
  revoke_wait: 30s
inventory:
  hash_values: true
  kubernetes:
    - name: test
      kubeconfig: %s
      namespaces: [%s]
`, r.Dir, c.Kubeconfig(t, token), ns)), 0o644)
	res := vigil(t, dir, "run", "--config", "vigil.yaml", "--format", "json", "--out", "out")
	if res.code != exitFindings {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	got := kindsAt(t, res.stdout)
	want := []string{"leak.git deploy/env.sh:1", "leak.live k8s:" + ns + "/warehouse/password"}
	if !sameSet(got, want) {
		t.Fatalf("findings:\n%s\nwant:\n%s\nstderr:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), res.stderr)
	}
	led := vigil(t, dir, "findings", "ledger", "--config", "vigil.yaml")
	if !strings.Contains(led.stdout, "loader") || !strings.Contains(led.stdout, "cleaned") {
		t.Errorf("ledger:\n%s\n%s", led.stdout, led.stderr)
	}
	fx := &fixture{dir: dir, secrets: []string{live, token}}
	fx.assertNoSecrets(t, res.stdout, res.stderr, led.stdout)
}

// kindsAt reads a run's JSON findings as "KIND RESOURCE" lines, a git
// leak's resource shortened to its file and line under deploy/.
func kindsAt(t *testing.T, stdout string) []string {
	t.Helper()
	var fs []map[string]any
	if err := json.Unmarshal([]byte(stdout), &fs); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fs {
		res := fmt.Sprint(f["resource"])
		if f["kind"] == "leak.git" {
			res = res[strings.LastIndex(res, ":deploy/")+1:]
		}
		got = append(got, fmt.Sprint(f["kind"], " ", res))
	}
	return got
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		if m[x]--; m[x] < 0 {
			return false
		}
	}
	return true
}
