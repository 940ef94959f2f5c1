package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	op "github.com/1Password/connect-sdk-go/onepassword"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/vigilsec/vigil/internal/testenv"
)

// One `vigil run` over a GitLab group, a 1Password Connect server and a
// Doppler workplace (the stores with no installable server: testenv's
// counterparts), with a git repository that leaked three of their values:
// each leak is matched to its
// store (leak.live), a credential in an unmasked GitLab variable is
// reported, an undeclared 1Password item (with no owner tag) and a declared GitLab variable
// that is gone are compared, and no value or token comes out anywhere.
func TestRunOverGitLabOnePasswordAndDoppler(t *testing.T) {
	g := testenv.NewGitLabServer(t)
	g.Project("acme/etl")
	inVar, plain, inItem, quiet := testenv.FakeAWSKey(), testenv.FakeGitHubToken(), testenv.FakeAWSKey(), testenv.FakeAWSKey()
	g.Variable("projects/acme/etl", gl.ProjectVariable{Key: "AWS_KEY", Value: inVar, Masked: true, Protected: true, EnvironmentScope: "production"})
	g.Variable("projects/acme/etl", gl.ProjectVariable{Key: "GH_TOKEN", Value: plain})
	c := testenv.NewOnePasswordConnect(t)
	vid := c.Vault("data")
	c.Item(vid, op.Item{Title: "warehouse", Category: op.Database, Tags: []string{"owner:data"}, Fields: []*op.ItemField{
		{Label: "username", Type: op.FieldTypeString, Value: "etl"},
		{Label: "password", Type: op.FieldTypeConcealed, Value: inItem}}})
	c.Item(vid, op.Item{Title: "stray", Category: op.Password, Fields: []*op.ItemField{{Label: "password", Type: op.FieldTypeConcealed, Value: quiet}}})
	d := testenv.NewDopplerServer(t)
	inDoppler := testenv.FakeAWSKey()
	d.Project("etl", testenv.DopplerConfig{Name: "prd", Environment: "prd", Root: true, Secrets: map[string]string{"API_KEY": inDoppler},
		Tokens: []testenv.DopplerToken{{Name: "airflow"}}})
	t.Setenv("VIGIL_TEST_DOPPLER_TOKEN", d.Token)
	t.Setenv("VIGIL_TEST_GITLAB_TOKEN", g.Token)
	t.Setenv("VIGIL_TEST_OP_TOKEN", c.Token)

	r := testenv.NewRepo(t)
	r.Commit("oops", map[string]string{"deploy/env.sh": "export AWS_ACCESS_KEY_ID=" + inVar + "\nexport WAREHOUSE_KEY=" + inItem + "\nexport API_KEY=" + inDoppler + "\n"})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "secrets.yaml"), []byte(`secrets:
  - {path: "gitlab:acme/etl/AWS_KEY@production", owner: data, env: prod}
  - {path: "gitlab:acme/etl/GH_TOKEN", owner: data, env: prod}
  - {path: "gitlab:acme/etl/DB_PASSWORD", owner: data, env: prod}
  - {path: "1password:data/warehouse#password", owner: data, env: prod}
  - {path: "doppler:etl/prd/API_KEY", owner: data, env: prod, rotation: {length: 32}}
  - {path: "doppler:etl/prd/token:airflow", owner: data, env: prod}
`), 0o644)
	os.WriteFile(filepath.Join(dir, "vigil.yaml"), []byte(fmt.Sprintf(`db: state/vigil.db
rules:
  inventory: secrets.yaml
sources:
  git:
    - name: etl
      path: %s
inventory:
  hash_values: true
  gitlab:
    - url: %s
      token_env: VIGIL_TEST_GITLAB_TOKEN
      groups: [acme]
  onepassword:
    - name: ops
      url: %s
      token_env: VIGIL_TEST_OP_TOKEN
  doppler:
    - name: acme
      api_url: %s
      token_env: VIGIL_TEST_DOPPLER_TOKEN
`, r.Dir, g.URL, c.URL, d.URL)), 0o644)
	res := vigil(t, dir, "run", "--config", "vigil.yaml", "--format", "json", "--out", "out")
	if res.code != exitFindings {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	got := kindsAt(t, res.stdout)
	want := []string{
		"leak.git deploy/env.sh:1", "leak.git deploy/env.sh:2", "leak.git deploy/env.sh:3", "leak.live doppler:etl/prd/API_KEY",
		"leak.live gitlab:acme/etl/AWS_KEY@production", "leak.live 1password:data/warehouse#password",
		"inventory.plaintext_variable gitlab:acme/etl/GH_TOKEN",
		"inventory.missing gitlab:acme/etl/DB_PASSWORD",
		"inventory.undeclared 1password:data/stray#password", "inventory.no_owner 1password:data/stray#password",
		"inventory.token_no_expiry doppler:etl/prd/token:airflow",
	}
	if !sameSet(got, want) {
		t.Fatalf("findings:\n%s\nwant:\n%s\nstderr:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), res.stderr)
	}

	// The leaked Doppler secret declares a rotation: the plan has it, an
	// approved apply writes a new value in Doppler, and the next night the
	// leak is no longer live.
	r2 := vigil(t, dir, "remediate", "plan", "--config", "vigil.yaml", "--format", "json")
	var plan struct {
		ID      string
		Actions []struct{ ID, Kind, Target string }
	}
	if err := json.Unmarshal([]byte(r2.stdout), &plan); err != nil || r2.code != 0 {
		t.Fatalf("plan: %d %v\n%s\n%s", r2.code, err, r2.stdout, r2.stderr)
	}
	rotation := ""
	for _, a := range plan.Actions {
		if a.Kind == "rotate.doppler" && a.Target == "doppler:etl/prd/API_KEY" {
			rotation = a.ID
		}
	}
	if rotation == "" {
		t.Fatalf("no Doppler rotation in the plan: %+v\n%s", plan, r2.stderr)
	}
	applied := vigil(t, dir, "remediate", "apply", "--config", "vigil.yaml", "--plan", plan.ID, "--action", rotation, "--approve")
	if v, _ := d.Value("etl", "prd", "API_KEY"); applied.code != 0 || v == inDoppler || len(v) != 32 {
		t.Fatalf("apply: %d (rotated=%v)\n%s\n%s", applied.code, v != inDoppler, applied.stdout, applied.stderr)
	}
	rotated, _ := d.Value("etl", "prd", "API_KEY")
	next := vigil(t, dir, "run", "--config", "vigil.yaml", "--format", "json", "--out", "out")
	if next.code != exitFindings {
		t.Fatalf("the night after the rotation: %d\n%s", next.code, next.stderr)
	}

	// The next night Doppler refuses the token: the run is partial and
	// names the store, the other stores are listed as before, and nothing
	// Doppler's listing found is resolved on the strength of a failure.
	t.Setenv("VIGIL_TEST_DOPPLER_TOKEN", "dp.pt.revoked")
	again := vigil(t, dir, "run", "--config", "vigil.yaml", "--format", "json", "--out", "out")
	if again.code != exitPartial || !strings.Contains(again.stderr, "doppler:acme") || !strings.Contains(again.stderr, "401") {
		t.Fatalf("a failing store: exit %d\n%s", again.code, again.stderr)
	}
	list := vigil(t, dir, "findings", "list", "--config", "vigil.yaml", "--format", "json")
	var open []map[string]any
	if err := json.Unmarshal([]byte(list.stdout), &open); err != nil {
		t.Fatalf("%v\n%s", err, list.stderr)
	}
	still := map[string]bool{}
	for _, f := range open {
		if f["status"] == "open" {
			still[fmt.Sprint(f["kind"], " ", f["resource"])] = true
		}
	}
	if still["leak.live doppler:etl/prd/API_KEY"] {
		t.Errorf("the rotated Doppler secret's leak is still live")
	}
	for _, k := range []string{"inventory.token_no_expiry doppler:etl/prd/token:airflow", "leak.live gitlab:acme/etl/AWS_KEY@production", "inventory.undeclared 1password:data/stray#password"} {
		if !still[k] {
			t.Errorf("%s is no longer open after a night Doppler failed: %v", k, still)
		}
	}
	fx := &fixture{dir: dir, secrets: []string{inVar, plain, inItem, quiet, inDoppler, rotated, g.Token, c.Token, d.Token}}
	fx.assertNoSecrets(t, res.stdout, res.stderr, r2.stdout, r2.stderr, applied.stdout, applied.stderr, next.stdout, next.stderr, again.stdout, again.stderr, list.stdout)
}

// An IAM user's access key in a GitLab CI variable (masked and protected,
// so no inventory finding) is a long-lived key in CI when the account
// trusts that GitLab's OIDC issuer: found by `vigil run` from what the
// inventory listed, and by `vigil iam drift` alone, which lists GitLab
// itself; the advice is GitLab's, and the key is never printed whole.
func TestLongLivedKeyInGitLabCI(t *testing.T) {
	endpoint := testenv.Moto(t)
	c := iam.NewFromConfig(testenv.AWSConfig(t, endpoint))
	ctx := context.Background()
	// Real access key ids are base32 ([A-Z2-7]), which gitleaks' AWS rule
	// requires; moto's may hold other digits: make users until one is real.
	var user, keyID, keySecret string
	for i := 0; i < 60 && !regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`).MatchString(keyID); i++ {
		user = fmt.Sprintf("gitlab-ci-%d-%d", os.Getpid(), i)
		keyID, keySecret = testenv.MotoUser(t, c, user, "")
	}
	g := testenv.NewGitLabServer(t)
	g.Project("acme/etl")
	g.Variable("projects/acme/etl", gl.ProjectVariable{Key: "AWS_ACCESS_KEY_ID", Value: keyID, Masked: true, Protected: true})
	issuer := strings.TrimPrefix(g.URL, "http://")
	if _, err := c.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String("https://" + issuer),
		ClientIDList: []string{"sts.amazonaws.com"}, ThumbprintList: []string{strings.Repeat("a", 40)}}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("VIGIL_TEST_GITLAB_TOKEN", g.Token)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "vigil.yaml"), []byte(fmt.Sprintf(`db: state/vigil.db
aws:
  endpoint: %s
inventory:
  gitlab:
    - url: %s
      token_env: VIGIL_TEST_GITLAB_TOKEN
      groups: [acme]
`, endpoint, g.URL)), 0o644)
	for _, args := range [][]string{{"run"}, {"iam", "drift"}} {
		r := vigil(t, dir, append(args, "--config", "vigil.yaml", "--format", "json")...)
		var fs []map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &fs); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, r.stderr)
		}
		found := false
		for _, f := range fs {
			if f["kind"] == "iam.long_lived_key_in_ci" && f["resource"] == "gitlab:acme/etl/AWS_ACCESS_KEY_ID" {
				found = strings.Contains(fmt.Sprint(f["detail"]), "GitLab's OIDC issuer") && strings.Contains(fmt.Sprint(f["detail"]), user)
			}
		}
		if !found {
			t.Fatalf("vigil %v: no long-lived key in GitLab CI (exit %d)\n%s\n%s", args, r.code, r.stdout, r.stderr)
		}
		fx := &fixture{dir: dir, secrets: []string{keyID, keySecret, g.Token}}
		fx.assertNoSecrets(t, r.stdout, r.stderr)
	}
}
