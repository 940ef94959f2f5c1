package remediate

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/ledger"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners/synthetic"
)

const (
	wideGrants = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:*","secretsmanager:GetSecretValue"],"Resource":"*"}]}`
	// What the drift scanner suggests for a declaration of iam:ListRoles
	// and secretsmanager:GetSecretValue.
	narrowed = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:ListRoles","secretsmanager:GetSecretValue"],"Resource":"*"}]}`
	// ... and for a stale declaration that forgot secretsmanager.
	stale = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:ListRoles"],"Resource":"*"}]}`
)

// iamFixture is a moto account with IAM enforcement on: job roles with wide
// grants, a user with an access key, and two users for vigil holding the
// shipped example policies (examples/iam): the read-only audit one, which
// the synthetic checks run as, and the remediation one, which changes
// things. The tests thus also prove the example policies suffice.
type iamFixture struct {
	st       *store.Store
	h        *secrethash.Hasher
	admin    aws.Config
	audit    aws.Config
	engine   *Engine
	planner  *Planner
	iam      *IAM
	remedCfg aws.Config
	keyID    string
	keyCfg   aws.Config // the ci-bot user's own credentials
}

func examplePolicy(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "iam", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func userConfig(t *testing.T, c *iam.Client, base aws.Config, name, policy string) aws.Config {
	t.Helper()
	id, secret := testenv.MotoUser(t, c, name, policy)
	cfg := base.Copy()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(id, secret, "")
	return cfg
}

func newIAMFixture(t *testing.T, identities string) *iamFixture {
	t.Helper()
	ctx := context.Background()
	admin := testenv.AWSConfig(t, testenv.Moto(t))
	c := iam.NewFromConfig(admin)
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/vigil"},
		"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]}]}`
	for _, role := range []string{"etl", "etl-stale"} {
		if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String("job"), PolicyDocument: aws.String(wideGrants)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sm.NewFromConfig(admin).CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("dev/app/db"), SecretString: aws.String("pw-" + testenv.FakeAWSKey())}); err != nil {
		t.Fatal(err)
	}
	audit := userConfig(t, c, admin, "vigil", examplePolicy(t, "vigil-audit.json"))
	remed := userConfig(t, c, admin, "vigil-remediate", examplePolicy(t, "vigil-remediate.json"))
	bot := userConfig(t, c, admin, "ci-bot", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListRoles","Resource":"*"}]}`)
	keys, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("ci-bot")})
	if err != nil {
		t.Fatal(err)
	}
	testenv.MotoPost(t, "/moto-api/reset-auth", "0")

	st, h := testenv.Store(t)
	p := filepath.Join(t.TempDir(), "identities.yaml")
	if err := os.WriteFile(p, []byte(identities), 0o644); err != nil {
		t.Fatal(err)
	}
	ids, err := rules.LoadIdentities(p)
	if err != nil {
		t.Fatal(err)
	}
	syn := &synthetic.Scanner{Identities: ids, Ledger: st, Controls: rules.DefaultControls(), RevokeWait: 3 * time.Second,
		Issuers: map[string]synthetic.Issuer{"aws:default": &synthetic.AWSIssuer{Account: "default", Config: audit, SourceIdentity: "vigil"}}}
	ih := &IAM{Accounts: map[string]IAMAccount{"default": {IAM: iam.NewFromConfig(remed), STS: sts.NewFromConfig(remed)}}, Hasher: h,
		Probe: withoutRevocationDenies(t, c, SyntheticProber(syn))}
	eng := &Engine{Store: st, Handlers: map[string]Handler{KindNarrow: ih, KindNarrowTrust: ih, KindDeactivateKey: ih, KindQuarantine: ih}}
	// The planner reads keys with the audit credentials.
	pl := &Planner{Store: st, Engine: eng, Identities: ids, Keys: AccessKeys(map[string]*iam.Client{"default": iam.NewFromConfig(audit)}, h)}
	return &iamFixture{st: st, h: h, admin: admin, audit: audit, engine: eng, planner: pl, iam: ih, remedCfg: remed,
		keyID: aws.ToString(keys.AccessKeyMetadata[0].AccessKeyId), keyCfg: bot}
}

// withoutRevocationDenies removes the revocation Deny each probe run leaves
// on the role. On AWS it denies only vigil's revoked session (its
// aws:TokenIssueTime and aws:userid conditions); moto ignores conditions and
// would deny the next probe run's fresh session too, so the tests take it
// away as AWS's conditions would make it irrelevant.
func withoutRevocationDenies(t *testing.T, c *iam.Client, p Prober) Prober {
	return func(ctx context.Context, identity string) ([]string, error) {
		denied, err := p(ctx, identity)
		testenv.MotoPost(t, "/moto-api/reset-auth", "inf")
		defer testenv.MotoPost(t, "/moto-api/reset-auth", "0")
		roles, lerr := c.ListRoles(ctx, &iam.ListRolesInput{})
		if lerr != nil {
			t.Fatal(lerr)
		}
		for _, r := range roles.Roles {
			pols, _ := c.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: r.RoleName})
			for _, name := range pols.PolicyNames {
				if strings.HasPrefix(name, "vigil-revoke-") {
					if _, err := c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: r.RoleName, PolicyName: aws.String(name)}); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		return denied, err
	}
}

const etlIdentities = `identities:
  - name: etl
    kind: role
    grants:
      - actions: [iam:ListRoles, secretsmanager:GetSecretValue]
        resources: ["*"]
    probes:
      allow:
        - iam:ListRoles
        - secretsmanager:GetSecretValue dev/app/db
      deny:
        - iam:ListUsers
  - name: etl-stale
    kind: role
    grants:
      - actions: [iam:ListRoles]
        resources: ["*"]
    probes:
      allow:
        - iam:ListRoles
        - secretsmanager:GetSecretValue dev/app/db
`

func excess(role, suggested string) finding.Finding {
	arn := "arn:aws:iam::123456789012:role/" + role
	return finding.Finding{ID: finding.Fingerprint(finding.KindIAMExcessGrant, arn), Kind: finding.KindIAMExcessGrant, Resource: arn,
		Title:    "role " + role + " is granted iam:* beyond its declaration",
		Evidence: finding.Evidence{"policy": "inline:role/" + role + "/job", "via": "", "principal": arn, "suggested_policy": suggested, "account_name": "default"}}
}

func (fx *iamFixture) rolePolicy(t *testing.T, role, name string) string {
	t.Helper()
	doc, ok, err := getInline(context.Background(), iam.NewFromConfig(fx.remedCfg), PrincipalSpec{Kind: "role", Name: role}, name)
	if err != nil || !ok {
		t.Fatalf("policy %s of %s: %v %v", name, role, ok, err)
	}
	return doc
}

func TestNarrowIAMVerifiedByProbes(t *testing.T) {
	ctx := context.Background()
	fx := newIAMFixture(t, etlIdentities)
	seed(t, fx.st, "iam:default", excess("etl", narrowed), excess("etl-stale", stale))
	p, err := fx.planner.Plan(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Actions) != 2 {
		t.Fatalf("plan: %+v", p)
	}
	acts, err := fx.engine.Apply(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	byTarget := map[string]store.Action{}
	for _, a := range acts {
		byTarget[a.Target] = a
	}
	ok := byTarget["arn:aws:iam::123456789012:role/etl"]
	if ok.Status != store.ActApplied || !strings.Contains(ok.Caller, "user/vigil-remediate") {
		t.Fatalf("etl: %s %s (caller %s)", ok.Status, ok.Error, ok.Caller)
	}
	if !sameDoc(fx.rolePolicy(t, "etl", "job"), narrowed) {
		t.Errorf("etl's policy is not the narrowed one")
	}
	// The stale declaration would break the job: its probe of
	// secretsmanager was denied after narrowing, so it was put back.
	bad := byTarget["arn:aws:iam::123456789012:role/etl-stale"]
	if bad.Status != store.ActRolledBack || !strings.Contains(bad.Error, "secretsmanager:GetSecretValue") {
		t.Fatalf("etl-stale: %s %s", bad.Status, bad.Error)
	}
	if !sameDoc(fx.rolePolicy(t, "etl-stale", "job"), wideGrants) {
		t.Errorf("etl-stale's policy was not restored")
	}
	// Every probe run, before and after each change, is in the credential
	// ledger.
	creds, err := fx.st.Credentials(ctx, ledger.Filter{})
	if err != nil || len(creds) != 4 {
		t.Errorf("ledger: %d rows, %v", len(creds), err)
	}

	// Applying again changes nothing; rollback restores the wide grants.
	if _, err := fx.engine.Apply(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	rb, err := fx.engine.Rollback(ctx, ok.ID, false)
	if err != nil || rb.Status != store.ActRolledBack {
		t.Fatalf("rollback: %v %+v", err, rb)
	}
	if !sameDoc(fx.rolePolicy(t, "etl", "job"), wideGrants) {
		t.Errorf("rollback did not restore etl's policy")
	}
	if got := auditActions(t, fx.st, ok.ID); strings.Join(got, " ") != "remediate.planned remediate.applying remediate.applied remediate.rolling_back remediate.rolled_back" {
		t.Errorf("audit: %v", got)
	}
}

func TestNarrowManagedPolicyKeepsOldVersion(t *testing.T) {
	ctx := context.Background()
	fx := newIAMFixture(t, etlIdentities)
	testenv.MotoPost(t, "/moto-api/reset-auth", "inf")
	c := iam.NewFromConfig(fx.admin)
	pol, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("etl-managed"), PolicyDocument: aws.String(wideGrants)})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(pol.Policy.Arn)
	for _, step := range []func() error{
		func() error {
			_, err := c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String("etl"), PolicyName: aws.String("job")})
			return err
		},
		func() error {
			_, err := c.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("etl"), PolicyArn: aws.String(arn)})
			return err
		},
		func() error {
			_, err := c.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("etl"), PolicyArn: aws.String("arn:aws:iam::aws:policy/AdministratorAccess")})
			return err
		},
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	testenv.MotoPost(t, "/moto-api/reset-auth", "0")
	f := excess("etl", narrowed)
	f.Evidence["policy"] = arn
	admin := excess("etl", narrowed)
	admin.ID, admin.Kind = finding.Fingerprint(finding.KindIAMAdmin, "etl"), finding.KindIAMAdmin
	admin.Evidence = finding.Evidence{"policy": "arn:aws:iam::aws:policy/AdministratorAccess", "via": "", "account_name": "default"}
	seed(t, fx.st, "iam:default", f, admin)
	p, err := fx.planner.Plan(ctx, nil)
	if err != nil || len(p.Actions) != 1 || len(p.Actions[0].Findings) != 2 {
		t.Fatalf("plan: %v %+v", err, p)
	}
	acts, err := fx.engine.Apply(ctx, p.ID)
	if err != nil || acts[0].Status != store.ActApplied {
		t.Fatalf("apply: %v %s %s", err, acts[0].Status, acts[0].Error)
	}
	testenv.MotoPost(t, "/moto-api/reset-auth", "inf") // the test's own reads
	got, err := c.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
	if err != nil || aws.ToString(got.Policy.DefaultVersionId) != "v2" {
		t.Fatalf("default version: %v %v", err, got)
	}
	attached, err := c.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String("etl")})
	if err != nil || len(attached.AttachedPolicies) != 1 {
		t.Fatalf("AdministratorAccess should be detached: %v %+v", err, attached)
	}
	testenv.MotoPost(t, "/moto-api/reset-auth", "0")
	if a, err := fx.engine.Rollback(ctx, acts[0].ID, false); err != nil || a.Status != store.ActRolledBack {
		t.Fatalf("rollback: %v %+v", err, a)
	}
	testenv.MotoPost(t, "/moto-api/reset-auth", "inf")
	got, _ = c.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
	vs, _ := c.ListPolicyVersions(ctx, &iam.ListPolicyVersionsInput{PolicyArn: aws.String(arn)})
	attached, _ = c.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String("etl")})
	if aws.ToString(got.Policy.DefaultVersionId) != "v1" || len(vs.Versions) != 1 || len(attached.AttachedPolicies) != 2 {
		t.Errorf("rollback: default %s, %d versions, %d attached", aws.ToString(got.Policy.DefaultVersionId), len(vs.Versions), len(attached.AttachedPolicies))
	}
}

func TestDeactivateKeyAndQuarantine(t *testing.T) {
	ctx := context.Background()
	fx := newIAMFixture(t, etlIdentities)
	userARN := "arn:aws:iam::123456789012:user/ci-bot"
	old := finding.Finding{ID: finding.Fingerprint(finding.KindIAMOldKey, fx.keyID), Kind: finding.KindIAMOldKey, Resource: userARN,
		Title: "access key is 400 days old", Evidence: finding.Evidence{"access_key_id": fx.keyID, "principal": userARN, "account_name": "default"}}
	seed(t, fx.st, "iam:default", old)
	// The key id leaked in a repository: the leak's secret hash is the
	// keyed hash of the id gitleaks matched.
	leak := finding.Finding{ID: finding.Fingerprint(finding.KindLeakGit, "k"), Kind: finding.KindLeakGit, Severity: finding.Critical,
		Resource: "repo:payments@abc:deploy.sh:3", Title: "AWS access key", Evidence: finding.Evidence{"rule": "aws-access-token", "secret_hash": fx.h.Hash(fx.keyID)}}
	seed(t, fx.st, "git:payments", leak)

	// The key works before.
	if _, err := iam.NewFromConfig(fx.keyCfg).ListRoles(ctx, &iam.ListRolesInput{}); err != nil {
		t.Fatalf("ci-bot before quarantine: %v", err)
	}
	p, err := fx.planner.Plan(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, a := range p.Actions {
		kinds[a.Kind] = a.ID
	}
	if len(p.Actions) != 2 || kinds[KindQuarantine] == "" || kinds[KindDeactivateKey] == "" {
		t.Fatalf("plan: %+v", p)
	}
	// Quarantine alone first: the user is denied everything.
	q := action(t, fx.st, kinds[KindQuarantine])
	qa := q
	if err := fx.engine.apply(ctx, &qa); err != nil || qa.Status != store.ActApplied {
		t.Fatalf("quarantine: %v %s %s", err, qa.Status, qa.Error)
	}
	if _, err := iam.NewFromConfig(fx.keyCfg).ListRoles(ctx, &iam.ListRolesInput{}); err == nil {
		t.Error("a quarantined user can still call IAM")
	}
	acts, err := fx.engine.Apply(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range acts {
		if a.Status != store.ActApplied {
			t.Errorf("%s: %s %s", a.Kind, a.Status, a.Error)
		}
	}
	ks, err := iam.NewFromConfig(fx.remedCfg).ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("ci-bot")})
	if err != nil || ks.AccessKeyMetadata[0].Status != "Inactive" {
		t.Fatalf("key status: %v %+v", err, ks)
	}
	// Lifting the quarantine and reactivating are rollbacks.
	for _, id := range []string{kinds[KindQuarantine], kinds[KindDeactivateKey]} {
		if a, err := fx.engine.Rollback(ctx, id, false); err != nil || a.Status != store.ActRolledBack {
			t.Fatalf("rollback %s: %v %+v", id, err, a)
		}
	}
	if _, err := iam.NewFromConfig(fx.keyCfg).ListRoles(ctx, &iam.ListRolesInput{}); err != nil {
		t.Errorf("after rollback ci-bot should work again: %v", err)
	}
	// The quarantine, planned from the leak, names the key only redacted.
	q = action(t, fx.st, kinds[KindQuarantine])
	if b, _ := json.Marshal(q); strings.Contains(string(b), fx.keyID) {
		t.Errorf("the quarantine action holds the leaked key id: %s", b)
	}
}

// An identity both broader and narrower than declared: its secretsmanager
// probe already fails before the change. Narrowing must not be blamed for
// it (and so blocked forever); only a probe that passed before and fails
// after is a regression.
func TestNarrowIgnoresProbesAlreadyFailing(t *testing.T) {
	ctx := context.Background()
	fx := newIAMFixture(t, etlIdentities)
	onlyIAM := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:*"],"Resource":"*"}]}`
	testenv.MotoPost(t, "/moto-api/reset-auth", "inf")
	if _, err := iam.NewFromConfig(fx.admin).PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("etl"),
		PolicyName: aws.String("job"), PolicyDocument: aws.String(onlyIAM)}); err != nil {
		t.Fatal(err)
	}
	testenv.MotoPost(t, "/moto-api/reset-auth", "0")
	seed(t, fx.st, "iam:default", excess("etl", stale))
	p, err := fx.planner.Plan(ctx, nil)
	if err != nil || len(p.Actions) != 1 {
		t.Fatalf("plan: %v %+v", err, p)
	}
	acts, err := fx.engine.Apply(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a := acts[0]; a.Status != store.ActApplied {
		t.Fatalf("narrowing blamed for a probe that failed before it: %s %s", a.Status, a.Error)
	}
	if !sameDoc(fx.rolePolicy(t, "etl", "job"), stale) {
		t.Errorf("etl was not narrowed")
	}
	if before, _ := acts[0].State["probes_denied_before"].([]any); len(before) != 1 {
		t.Errorf("the baseline probe run is not recorded: %v", acts[0].State)
	}
}

// An identity without probes: the plan says the narrowing is unverified,
// and apply leaves it planned unless --allow-unverified.
func TestNarrowWithoutProbesNeedsAllowUnverified(t *testing.T) {
	ctx := context.Background()
	fx := newIAMFixture(t, `identities:
  - name: etl
    kind: role
    grants:
      - actions: [iam:ListRoles, secretsmanager:GetSecretValue]
        resources: ["*"]
`)
	seed(t, fx.st, "iam:default", excess("etl", narrowed))
	p, err := fx.planner.Plan(ctx, nil)
	if err != nil || len(p.Actions) != 1 || !strings.Contains(p.Actions[0].Title, "UNVERIFIED") {
		t.Fatalf("plan: %v %+v", err, p)
	}
	acts, err := fx.engine.Apply(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a := acts[0]; a.Status != store.ActPlanned || !strings.Contains(a.Error, "--allow-unverified") {
		t.Fatalf("unverified narrowing applied silently: %s %s", a.Status, a.Error)
	}
	if !sameDoc(fx.rolePolicy(t, "etl", "job"), wideGrants) {
		t.Fatal("the policy changed without --allow-unverified")
	}
	fx.engine.AllowUnverified = true
	acts, err = fx.engine.Apply(ctx, p.ID)
	if err != nil || acts[0].Status != store.ActApplied {
		t.Fatalf("with --allow-unverified: %v %+v", err, acts)
	}
	if !sameDoc(fx.rolePolicy(t, "etl", "job"), narrowed) {
		t.Error("etl was not narrowed")
	}
}

// --finding with an iam.admin id: the principal's narrowing is planned from
// its excess findings, which carry the suggested policy.
func TestPlanAdminFindingNarrowsPrincipal(t *testing.T) {
	ctx := context.Background()
	fx := newIAMFixture(t, etlIdentities)
	ex := excess("etl", narrowed)
	admin := excess("etl", narrowed)
	admin.ID, admin.Kind = finding.Fingerprint(finding.KindIAMAdmin, "etl"), finding.KindIAMAdmin
	admin.Evidence = finding.Evidence{"policy": "inline:role/etl/job", "via": "", "account_name": "default"}
	seed(t, fx.st, "iam:default", ex, admin)
	p, err := fx.planner.Plan(ctx, []string{admin.ID})
	if err != nil || len(p.Actions) != 1 || len(p.Actions[0].Findings) != 2 {
		t.Fatalf("plan for the admin finding alone: %v %+v", err, p)
	}
}
