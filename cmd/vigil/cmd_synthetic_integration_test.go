package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/openbao/openbao/api/v2"

	"github.com/vigilsec/vigil/internal/testenv"
)

// `vigil synthetic` against moto (enforcing IAM) and OpenBao: a role with an
// extra wildcard grant and a Vault policy that reaches prod are both caught,
// every credential is in the ledger and revoked, and no secret is printed
// or stored.
func TestSyntheticCommand(t *testing.T) {
	ctx := context.Background()
	endpoint := testenv.Moto(t)
	admin := testenv.AWSConfig(t, endpoint)
	c := iam.NewFromConfig(admin)
	check := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]}]}`
	check(c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("loader"), AssumeRolePolicyDocument: aws.String(trust)}))
	check(c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("loader"), PolicyName: aws.String("job"), PolicyDocument: aws.String(
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}]}`)}))
	check(c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("vigil")}))
	check(c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("vigil"), PolicyName: aws.String("audit"), PolicyDocument: aws.String(
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity","iam:GetRole","iam:PutRolePolicy","iam:DeleteRolePolicy"],"Resource":"*"}]}`)}))
	key, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("vigil")})
	if err != nil {
		t.Fatal(err)
	}
	awsValue, devValue, prodValue := "db-"+testenv.FakeAWSKey(), "dev-"+testenv.FakeAWSKey(), "prod-"+testenv.FakeAWSKey()
	check(sm.NewFromConfig(admin).CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("prod/loader/db"), SecretString: aws.String(awsValue)}))
	testenv.MotoPost(t, "/moto-api/reset-auth", "0")

	cfg := api.DefaultConfig()
	cfg.Address = testenv.OpenBao(t)
	root, _ := api.NewClient(cfg)
	root.SetToken(testenv.OpenBaoToken)
	m := fmt.Sprintf("kv-cli-%d", os.Getpid())
	if err := root.Sys().Mount(m, &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	check(root.Logical().Write(m+"/data/dev/etl", map[string]any{"data": map[string]any{"password": devValue}}))
	check(root.Logical().Write(m+"/data/prod/etl", map[string]any{"data": map[string]any{"password": prodValue}}))
	if err := root.Sys().PutPolicy("etl", fmt.Sprintf(`path "%s/data/*" { capabilities = ["read"] }`, m)); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "identities.yaml"), []byte(fmt.Sprintf(`identities:
  - name: loader
    kind: role
    probes:
      allow:
        - secretsmanager:GetSecretValue prod/loader/db
      deny:
        - secretsmanager:ListSecrets
  - name: etl
    kind: vault
    vault: main
    policies: [etl]
    probes:
      allow:
        - read %[1]s/data/dev/etl
      deny:
        - read %[1]s/data/prod/etl
`, m)), 0o644)
	os.WriteFile(filepath.Join(dir, "vigil.yaml"), []byte("db: state/vigil.db\nrules:\n  identities: identities.yaml\naws:\n  region: us-east-1\n  endpoint: "+endpoint+
		"\ninventory:\n  vault:\n    - name: main\n      address: "+cfg.Address+"\n      token_env: BAO_TOKEN\nsynthetic:\n  revoke_wait: 2s\n"), 0o644)
	t.Setenv("AWS_ACCESS_KEY_ID", aws.ToString(key.AccessKey.AccessKeyId))
	t.Setenv("AWS_SECRET_ACCESS_KEY", aws.ToString(key.AccessKey.SecretAccessKey))
	t.Setenv("BAO_TOKEN", testenv.OpenBaoToken)

	r := vigil(t, dir, "synthetic", "--config", "vigil.yaml", "--format", "json")
	if r.code != exitFindings {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var fs []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &fs); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range fs {
		ev := f["evidence"].(map[string]any)
		got[f["kind"].(string)+" "+ev["identity"].(string)+" "+ev["probe"].(string)] = true
	}
	want := []string{"synthetic.denied_allowed loader secretsmanager:ListSecrets", "synthetic.denied_allowed etl read " + m + "/data/prod/etl"}
	if len(got) != len(want) || !got[want[0]] || !got[want[1]] {
		t.Fatalf("findings %v, want %v", got, want)
	}

	led := vigil(t, dir, "findings", "ledger", "--config", "vigil.yaml", "--format", "json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(led.stdout), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("ledger: %v\n%s", err, led.stdout)
	}
	for _, row := range rows {
		rev := row["revocation"].(map[string]any)
		if row["credential_id"] == "" || row["revoked_at"] == nil || rev["verified"] != true {
			t.Errorf("ledger row %v", row)
		}
	}
	table := vigil(t, dir, "findings", "ledger", "--config", "vigil.yaml")
	if !strings.Contains(table.stdout, "2 allowed, 0 denied, 0 inconclusive") {
		t.Errorf("ledger table:\n%s", table.stdout)
	}
	// moto ignores policy conditions, so the revocation Deny (for vigil's
	// old session only, on AWS) would deny the next session too: remove it,
	// as AWS's aws:TokenIssueTime condition would make it irrelevant.
	testenv.MotoPost(t, "/moto-api/reset-auth", "inf")
	pols, _ := c.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String("loader")})
	for _, p := range pols.PolicyNames {
		if strings.HasPrefix(p, "vigil-revoke-") {
			check(c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String("loader"), PolicyName: aws.String(p)}))
		}
	}
	testenv.MotoPost(t, "/moto-api/reset-auth", "0")
	// The nightly run includes the check; the same findings are still open.
	run := vigil(t, dir, "run", "--config", "vigil.yaml", "--only", "synthetic", "--out", "out")
	if run.code != exitFindings || strings.Contains(run.stdout, " new ") {
		t.Fatalf("run: %d\n%s\n%s", run.code, run.stdout, run.stderr)
	}

	// Canary: no secret value in any output, report or database file.
	blobs := []string{r.stdout, r.stderr, led.stdout, table.stdout, run.stdout, run.stderr}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && !strings.HasSuffix(p, ".yaml") {
			b, _ := os.ReadFile(p)
			blobs = append(blobs, string(b))
		}
		return nil
	})
	for _, b := range blobs {
		for _, v := range []string{awsValue, devValue, prodValue, aws.ToString(key.AccessKey.SecretAccessKey)} {
			if strings.Contains(b, v) {
				t.Errorf("secret %s… found in output or state", v[:6])
			}
		}
	}

	// A probe vigil can't make is refused up front with its file and line.
	os.WriteFile(filepath.Join(dir, "identities.yaml"), []byte("identities:\n  - name: loader\n    kind: role\n    probes:\n      deny:\n        - iam:DeleteRole loader\n"), 0o644)
	bad := vigil(t, dir, "synthetic", "--config", "vigil.yaml")
	if bad.code != exitUsage || !strings.Contains(bad.stderr, filepath.Join(dir, "identities.yaml")+":6:") || !strings.Contains(bad.stderr, "read-only probe") {
		t.Fatalf("bad probe: exit %d\n%s", bad.code, bad.stderr)
	}
}
