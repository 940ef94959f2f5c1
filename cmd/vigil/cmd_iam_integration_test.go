package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	otypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/vigilsec/vigil/internal/testenv"
)

// loaderRole creates in moto the role "loader" with an inline policy "p"
// granting s3:*, and in a new directory its declaration (identities.yaml,
// loader.json: s3:GetObject on exports/* only). It returns moto's IAM
// client and the directory.
func loaderRole(t *testing.T, endpoint string) (*iam.Client, string) {
	t.Helper()
	c := iam.NewFromConfig(testenv.AWSConfig(t, endpoint))
	ctx := context.Background()
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("loader"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("loader"), PolicyName: aws.String("p"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`)}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "loader.json"), []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::exports/*"}]}`), 0o644)
	os.WriteFile(filepath.Join(dir, "identities.yaml"), []byte("identities:\n  - name: loader\n    kind: role\n    policy: loader.json\n"), 0o644)
	return c, dir
}

func TestIAMDriftCommand(t *testing.T) {
	endpoint := testenv.Moto(t)
	_, dir := loaderRole(t, endpoint)
	// The account is reached by assuming a role, as production does.
	os.WriteFile(filepath.Join(dir, "vigil.yaml"), []byte("db: vigil.db\nrules:\n  identities: identities.yaml\naws:\n  endpoint: "+endpoint+
		"\n  accounts:\n    - name: data\n      role_arn: arn:aws:iam::123456789012:role/loader\n"), 0o644)
	env := []string{"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing"}
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		t.Setenv(k, v)
	}

	r := vigil(t, dir, "iam", "drift", "--config", "vigil.yaml", "--format", "json")
	if r.code != exitFindings {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var fs []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &fs); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, f := range fs {
		got[f["kind"].(string)]++
	}
	if got["iam.excess_grant"] != 1 || got["iam.wildcard"] != 1 || got["iam.missing_grant"] != 0 {
		t.Fatalf("kinds %v", got)
	}
	if !strings.Contains(r.stdout, `"account":"123456789012"`) {
		t.Errorf("findings do not name the account:\n%s", r.stdout)
	}
	// The whole nightly run includes iam, and the findings are the same ones.
	r = vigil(t, dir, "run", "--config", "vigil.yaml", "--only", "iam", "--out", "out")
	if r.code != exitFindings || !strings.Contains(r.stdout, " open ") || strings.Contains(r.stdout, " new ") {
		t.Fatalf("run --only iam: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// A malformed declared policy names its file and line, exit 2.
	os.WriteFile(filepath.Join(dir, "loader.json"), []byte("{\n \"Statement\": [\n  {\"Effect\": \"Allow\" \"Action\": \"s3:*\"}\n ]\n}\n"), 0o644)
	r = vigil(t, dir, "iam", "drift", "--config", "vigil.yaml")
	if r.code != exitUsage || !strings.Contains(r.stderr, filepath.Join(dir, "loader.json")+":3:") {
		t.Fatalf("bad policy: exit %d\n%s", r.code, r.stderr)
	}

	// An unreachable AWS endpoint: partial, named.
	os.WriteFile(filepath.Join(dir, "loader.json"), []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`), 0o644)
	os.WriteFile(filepath.Join(dir, "vigil.yaml"), []byte("db: vigil.db\nrules:\n  identities: identities.yaml\naws:\n  endpoint: http://127.0.0.1:1\n  accounts:\n    - name: prod\n"), 0o644)
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	r = vigil(t, dir, "iam", "drift", "--config", "vigil.yaml")
	if r.code != exitPartial || !strings.Contains(r.stderr, "iam prod") {
		t.Fatalf("unreachable: exit %d\n%s", r.code, r.stderr)
	}
}

// TestTrustDoorsCommand: a GitHub role open to every repository of the
// owner, declared for one, is reported by `vigil iam drift` with the SCPs
// of the organisation read, and `vigil remediate plan` narrows it,
// UNVERIFIED. A misnamed organisation account is a config error.
func TestTrustDoorsCommand(t *testing.T) {
	endpoint := testenv.Moto(t)
	cfg := testenv.AWSConfig(t, endpoint)
	ctx := context.Background()
	if _, err := organizations.NewFromConfig(cfg).CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: otypes.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	const gh = "token.actions.githubusercontent.com"
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/` + gh + `"},` +
		`"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"` + gh + `:aud":"sts.amazonaws.com"},"StringLike":{"` + gh + `:sub":"repo:acme/*"}}}]}`
	if _, err := iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("deploy"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "identities.yaml"), []byte(`identities:
  - name: deploy
    kind: role
    trust:
      oidc:
        - provider: `+gh+`
          subjects: ["repo:acme/deploy:ref:refs/heads/main"]
`), 0o644)
	yaml := "db: vigil.db\nrules:\n  identities: identities.yaml\naws:\n  endpoint: " + endpoint + "\n  organization: %s\n  accounts:\n    - name: data\n"
	os.WriteFile(filepath.Join(dir, "vigil.yaml"), []byte(strings.Replace(yaml, "%s", "data", 1)), 0o644)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")

	r := vigil(t, dir, "iam", "drift", "--config", "vigil.yaml", "--format", "json")
	if r.code != exitFindings {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var fs []struct {
		Kind     string
		Evidence map[string]any
	}
	if err := json.Unmarshal([]byte(r.stdout), &fs); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fs {
		got = append(got, f.Kind+" "+fmt.Sprint(f.Evidence["reason"]))
	}
	sort.Strings(got)
	if strings.Join(got, ", ") != "iam.trust_too_broad oidc_repo_wildcard, iam.undeclared_trust undeclared" {
		t.Fatalf("findings: %v", got)
	}
	r = vigil(t, dir, "remediate", "plan", "--config", "vigil.yaml", "--format", "json")
	var plan struct {
		Actions []struct{ Kind, Target, Title string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil || r.code != 0 {
		t.Fatalf("plan: %d %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	if len(plan.Actions) != 1 || plan.Actions[0].Kind != "iam.narrow_trust" || !strings.Contains(plan.Actions[0].Title, "UNVERIFIED") {
		t.Fatalf("plan: %+v", plan)
	}

	os.WriteFile(filepath.Join(dir, "vigil.yaml"), []byte(strings.Replace(yaml, "%s", "mgmt", 1)), 0o644)
	if r := vigil(t, dir, "iam", "drift", "--config", "vigil.yaml"); r.code != exitUsage || !strings.Contains(r.stderr, `aws.organization: "mgmt" is not one of aws.accounts`) {
		t.Fatalf("misnamed organisation account: %d\n%s", r.code, r.stderr)
	}
}

// TestDoctorCommand: ready (exit 0) when everything answers; a missing
// directory and an unreachable repository make it not ready (exit 1), named
// in the table, and the database is not created.
func TestDoctorCommand(t *testing.T) {
	gh := testenv.NewGitHubReplay(t)
	r := testenv.NewRepo(t)
	r.Commit("init", map[string]string{"README": "hi\n"})
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "conf"), 0o755)
	os.WriteFile(filepath.Join(dir, "conf", "app.env"), []byte("A=b\n"), 0o644)
	good := "db: state/vigil.db\nsources:\n  git:\n    - name: app\n      path: " + r.Dir + "\n  dirs:\n    - name: conf\n      path: conf\n" +
		"inventory:\n  files:\n    env: [\"conf/*.env\"]\n  github:\n    - org: octo-org\n      base_url: " + gh.URL + "\n"
	os.MkdirAll(filepath.Join(dir, "state"), 0o755)
	os.WriteFile(filepath.Join(dir, "vigil.yaml"), []byte(good), 0o644)
	res := vigil(t, dir, "doctor", "--config", "vigil.yaml")
	if res.code != 0 || strings.Count(res.stdout, " ok ") < 5 || !strings.Contains(res.stdout, "github:octo-org") {
		t.Fatalf("ready config: %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	bad := strings.Replace(good, "path: conf", "path: nowhere", 1) + "  # the repository moved\n"
	bad = strings.Replace(bad, "path: "+r.Dir, "url: http://ci:doctor-canary-s3cret@127.0.0.1:1/app.git", 1)
	os.WriteFile(filepath.Join(dir, "vigil.yaml"), []byte(bad), 0o644)
	res = vigil(t, dir, "doctor", "--config", "vigil.yaml", "--format", "json")
	var cs []struct{ Area, Target, Check, Status, Detail string }
	if err := json.Unmarshal([]byte(res.stdout), &cs); err != nil || res.code != exitFindings {
		t.Fatalf("not ready: %d %v\n%s\n%s", res.code, err, res.stdout, res.stderr)
	}
	got := map[string]string{}
	for _, c := range cs {
		got[c.Area+" "+c.Target] = c.Status
	}
	if got["git app"] != "unreachable" || got["dirs conf"] != "error" || got["github github:octo-org"] != "ok" {
		t.Fatalf("%v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "vigil.db")); err == nil {
		t.Error("doctor created the database")
	}
	if strings.Contains(res.stdout+res.stderr, "doctor-canary-s3cret") {
		t.Error("the repository URL's password is in doctor's output")
	}
}
