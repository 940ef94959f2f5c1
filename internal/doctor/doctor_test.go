package doctor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/openbao/openbao/api/v2"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/internal/testenv/kubetest"
	"github.com/vigilsec/vigil/internal/testenv/pgtest"
	"github.com/vigilsec/vigil/internal/wiring"
	"github.com/vigilsec/vigil/stores/azkv"
)

// TestDoctorNamesWhatIsMissing runs the pre-flight against moto with IAM
// enforcement on, as a user whose policy lacks secretsmanager:ListSecrets
// and iam:UpdateAssumeRolePolicy, and against OpenBao with a token that may
// list metadata but not read values: each check says ok or which
// permission is missing, and nothing is ready.
func TestDoctorNamesWhatIsMissing(t *testing.T) {
	ctx := context.Background()
	endpoint := testenv.Moto(t)
	admin := testenv.AWSConfig(t, endpoint)
	c := iam.NewFromConfig(admin)
	pol := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GetAccountAuthorizationDetails","iam:ListOpenIDConnectProviders",
		"iam:ListAccessKeys","secretsmanager:GetResourcePolicy","secretsmanager:GetSecretValue","kms:GetKeyPolicy","iam:PutRolePolicy",
		"iam:UpdateAccessKey","secretsmanager:PutSecretValue"],"Resource":"*"}]}`
	keyID, keySecret := testenv.MotoUser(t, c, "auditor", pol)
	t.Setenv("AWS_ACCESS_KEY_ID", keyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", keySecret)
	testenv.MotoPost(t, "/moto-api/reset-auth", "0")

	addr := testenv.OpenBao(t)
	bc, err := api.NewClient(&api.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	bc.SetToken(testenv.OpenBaoToken)
	mount := fmt.Sprintf("doctor%d", os.Getpid())
	if err := bc.Sys().Mount(mount, &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	if err := bc.Sys().PutPolicy("vigil-ro", `path "`+mount+`/metadata/*" { capabilities = ["list", "read"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := bc.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"vigil-ro"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCTOR_BAO_TOKEN", tok.Auth.ClientToken)

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "vigil.yaml"), []byte(`db: state/vigil.db
aws:
  endpoint: `+endpoint+`
inventory:
  hash_values: true
  awssm:
    regions: [us-east-1]
  vault:
    - name: main
      address: `+addr+`
      mounts: [`+mount+`]
      token_env: DOCTOR_BAO_TOKEN
    - name: gone
      address: http://127.0.0.1:1
      mounts: [secret]
      token_env: DOCTOR_BAO_TOKEN
remediate:
  settle: 1s
`), 0o644)
	os.MkdirAll(filepath.Join(dir, "state"), 0o755)
	cfg, err := config.Load(filepath.Join(dir, "vigil.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cs := Run(ctx, wiring.New(cfg, nil, nil, nil, nil))
	got := map[string]Status{}
	for _, c := range cs {
		got[c.Area+" "+c.Target+" "+c.What] = c.Status
	}
	want := map[string]Status{
		"aws default sts:GetCallerIdentity":                             OK,
		"aws default iam:GetAccountAuthorizationDetails":                OK,
		"aws default secretsmanager:ListSecrets us-east-1":              Missing,
		"aws default secretsmanager:GetResourcePolicy us-east-1":        OK,
		"aws default kms:GetKeyPolicy us-east-1":                        OK,
		"aws default remediate iam:PutRolePolicy":                       OK,
		"aws default remediate iam:UpdateAssumeRolePolicy":              Missing,
		"aws default remediate secretsmanager:PutSecretValue us-east-1": OK,
		"vault main token lookup-self":                                  OK,
		"vault main list " + mount + "/metadata/":                       OK,
		"vault main read " + mount + "/data/" + probe:                   Missing,
		"vault gone token lookup-self":                                  Unreachable,
		"config " + cfg.DB + " database directory writable":             OK,
	}
	for k, st := range want {
		if got[k] != st {
			t.Errorf("%s: %q, want %q", k, got[k], st)
		}
	}
	if Ready(cs) {
		t.Error("ready with permissions missing")
	}
	for _, c := range cs {
		if strings.Contains(c.Detail, tok.Auth.ClientToken) || strings.Contains(c.Detail, keySecret) {
			t.Errorf("a credential in the detail of %s", c.What)
		}
	}
	if t.Failed() {
		for _, c := range cs {
			t.Logf("%+v", c)
		}
	}
	// Nothing was written by the write probes.
	testenv.MotoPost(t, "/moto-api/reset-auth", "inf")
	if _, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(probe)}); err == nil {
		t.Error("a probe created a role")
	}
}

// A Key Vault that lists, one that refuses, one that does not answer.
func TestDoctorAzureKeyVault(t *testing.T) {
	ctx := context.Background()
	ok := testenv.NewAzureKeyVault()
	ok.Put("a", testenv.FakeAWSKey(), nil, nil)
	denied := testenv.NewAzureKeyVault()
	denied.Deny = true
	for _, tc := range []struct {
		c    *azsecrets.Client
		want Status
	}{{ok.Client(t), OK}, {denied.Client(t), Missing}} {
		if got := azureList(ctx, "azkv:x", tc.c); got.Status != tc.want {
			t.Errorf("%+v, want %s", got, tc.want)
		}
	}
	c, err := azkv.NewClient("gone", "https://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if got := azureList(ctx, "azkv:gone", c); got.Status == OK {
		t.Errorf("an unreachable vault: %+v", got)
	}
}

// A Secret Manager project that lists, and one that refuses.
func TestDoctorSecretManager(t *testing.T) {
	ctx := context.Background()
	ok := testenv.NewSecretManager(t)
	ok.Put("p", "a", testenv.FakeAWSKey(), nil, nil)
	denied := testenv.NewSecretManager(t)
	denied.Deny = true
	if got := gcpList(ctx, "gcpsm:p", "p", ok.Client(t)); got.Status != OK {
		t.Errorf("%+v", got)
	}
	if got := gcpList(ctx, "gcpsm:p", "p", denied.Client(t)); got.Status != Missing || !strings.Contains(got.Detail, "secretmanager.secrets.list") {
		t.Errorf("%+v", got)
	}
}

// Encrypted-file stores: something must match, and the key must be there
// when values are hashed.
func TestDoctorEncryptedFiles(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "k8s"), 0o755)
	os.WriteFile(filepath.Join(dir, "k8s", "db.sealed.yaml"), []byte("kind: SealedSecret\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "vigil.yaml"), []byte(`db: vigil.db
inventory:
  hash_values: true
  sops:
    paths: ["secrets/*.enc.yaml"]
  sealed_secrets:
    paths: ["k8s/*.sealed.yaml"]
    private_key_file: keys/controller.key
`), 0o644)
	cfg, err := config.Load(filepath.Join(dir, "vigil.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Status{}
	for _, c := range Run(context.Background(), wiring.New(cfg, nil, nil, nil, nil)) {
		got[c.Area+" "+c.What] = c.Status
	}
	want := map[string]Status{"sops files match": Failed, "sealed files match": OK, "sealed controller's private key readable": Failed}
	for k, st := range want {
		if got[k] != st {
			t.Errorf("%s: %q, want %q (%v)", k, got[k], st, got)
		}
	}
}

// A PostgreSQL db: is reached and checked for the right to create tables;
// one that can't be reached says so; neither shows a password.
func TestDoctorPostgresDatabase(t *testing.T) {
	dsn := pgtest.Database(t)
	check := func(db string) Check {
		t.Helper()
		dir := t.TempDir()
		p := filepath.Join(dir, "vigil.yaml")
		os.WriteFile(p, []byte("version: 1\ndb: "+db+"\n"), 0o644)
		cfg, err := config.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range Run(context.Background(), wiring.New(cfg, nil, nil, nil, nil)) {
			if strings.Contains(c.What, "PostgreSQL") {
				return c
			}
		}
		t.Fatal("no database check")
		return Check{}
	}
	if c := check(dsn); c.Status != OK {
		t.Errorf("reachable database: %+v", c)
	}
	gone := "postgres://vigil:s3cr3t-pw@127.0.0.1:1/vigil?sslmode=disable"
	c := check(gone)
	if c.Status != Unreachable || strings.Contains(c.Target+c.Detail, "s3cr3t-pw") {
		t.Errorf("unreachable database: %+v", c)
	}
}

// On a real API server: vigil's service account from the example may list
// what the inventory lists; one nothing is bound to is told what it lacks;
// a closed port is unreachable.
func TestDoctorKubernetes(t *testing.T) {
	c := kubetest.Start(t)
	vigil := c.VigilToken(t)
	p := c.Prefix()
	status := func(token string, namespaces ...string) map[string]Status {
		got := map[string]Status{}
		for _, ch := range kubernetesCluster(context.Background(), config.KubernetesCluster{Name: "k", Kubeconfig: c.Kubeconfig(t, token), Namespaces: namespaces}) {
			got[ch.What] = ch.Status
		}
		return got
	}
	if got := status(vigil); got["list namespaces"] != OK || got["list secrets in every namespace"] != OK || got["reach the API server"] != OK {
		t.Errorf("vigil's service account: %v", got)
	}
	if got := status(c.ServiceAccount(t, p+"x", "nobody"), p+"x"); got["list secrets in "+p+"x"] != Missing {
		t.Errorf("a service account with no role: %v", got)
	}
	if got := status("not-a-token"); got["reach the API server"] != Failed {
		t.Errorf("a refused token: %v", got)
	}
}

// GitLab, 1Password Connect and Doppler: a token that may read is ok, one
// that may not is a missing permission (GitLab's 403) or an authentication
// error (401), a closed port unreachable; no token is in any detail.
func TestDoctorSaaSStores(t *testing.T) {
	ctx := context.Background()
	g := testenv.NewGitLabServer(t)
	g.Project("acme/app")
	op := testenv.NewOnePasswordConnect(t)
	op.Vault("data")
	dp := testenv.NewDopplerServer(t)
	dp.Project("etl")
	t.Setenv("DOCTOR_GITLAB_TOKEN", g.Token)
	t.Setenv("DOCTOR_OP_TOKEN", op.Token)
	t.Setenv("DOCTOR_DOPPLER_TOKEN", "dp.pt.wrong")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "vigil.yaml"), []byte(`db: state/vigil.db
inventory:
  gitlab:
    - {url: "`+g.URL+`", token_env: DOCTOR_GITLAB_TOKEN, groups: [acme]}
    - {url: "http://127.0.0.1:1", token_env: DOCTOR_GITLAB_TOKEN, groups: [gone]}
  onepassword:
    - {name: ops, url: "`+op.URL+`", token_env: DOCTOR_OP_TOKEN}
  doppler:
    - {name: acme, api_url: "`+dp.URL+`", token_env: DOCTOR_DOPPLER_TOKEN}
`), 0o644)
	os.MkdirAll(filepath.Join(dir, "state"), 0o755)
	cfg, err := config.Load(filepath.Join(dir, "vigil.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	check := func() map[string]Check {
		got := map[string]Check{}
		for _, c := range Run(ctx, wiring.New(cfg, nil, nil, nil, nil)) {
			got[c.Area+" "+c.Target+" "+c.What] = c
			for _, tok := range []string{g.Token, op.Token} {
				if strings.Contains(c.Detail, tok) {
					t.Errorf("a token in the detail of %s", c.What)
				}
			}
		}
		return got
	}
	got := check()
	want := map[string]Status{
		"gitlab gitlab:acme list group variables": OK,
		"gitlab gitlab:gone list group variables": Unreachable,
		"1password 1password:ops list vaults":     OK,
		"doppler doppler:acme list projects":      Failed,
	}
	for k, st := range want {
		if got[k].Status != st {
			t.Errorf("%s: %q (%s), want %q", k, got[k].Status, got[k].Detail, st)
		}
	}
	if d := got["doppler doppler:acme list projects"].Detail; !strings.Contains(d, "authentication") {
		t.Errorf("doppler's 401: %s", d)
	}
	g.Deny = true
	if c := check()["gitlab gitlab:acme list group variables"]; c.Status != Missing || !strings.Contains(c.Detail, "Maintainer") {
		t.Errorf("gitlab's 403: %+v", c)
	}
}

// Scans compile the leak rules only when they have something to scan, so a
// rule that parses but that gitleaks refuses (here: neither regex nor path)
// would wait for the first night with something new; the doctor compiles
// them and names the file and the line.
func TestDoctorCompilesTheLeakRules(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "rules.toml"), []byte("[extend]\nuseDefault = true\n\n[[rules]]\nid = \"lonely\"\ndescription = \"d\"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "vigil.yaml"), []byte("db: vigil.db\nrules:\n  gitleaks: rules.toml\n"), 0o644)
	cfg, err := config.Load(filepath.Join(dir, "vigil.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range Run(context.Background(), wiring.New(cfg, nil, nil, nil, nil)) {
		if c.Area == "config" && strings.HasPrefix(c.What, "leak rules") {
			if c.Status != Failed || !strings.Contains(c.Detail, filepath.Join(dir, "rules.toml")+":5:") {
				t.Fatalf("leak rules: %s %q", c.Status, c.Detail)
			}
			return
		}
	}
	t.Fatal("the doctor did not check the leak rules")
}
