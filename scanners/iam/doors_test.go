package iam

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	otypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/vigilsec/vigil/internal/awsconf"
	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners"
)

const ghIssuer = "token.actions.githubusercontent.com"

func fedTrustOf(acct, issuer, cond string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::` + acct + `:oidc-provider/` + issuer + `"},` +
		`"Action":"sts:AssumeRoleWithWebIdentity","Condition":` + cond + `}]}`
}

func awsTrust(principal, cond string) string {
	if cond == "" {
		cond = "{}"
	}
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":` + principal + `,"Action":"sts:AssumeRole","Condition":` + cond + `}]}`
}

// seedDoors builds, in a member account of an organisation whose
// management account is mgmt, each bad door and its fixed twin, a boundary
// and an SCP that cut declared grants, shared secrets, and a CI user's key
// in an account that trusts GitHub's OIDC issuer. (SCPs do not apply to the
// management account, so the doors are in a member.)
func seedDoors(t *testing.T, mgmt aws.Config) (cfg aws.Config, acct, keyID string) {
	t.Helper()
	ctx := context.Background()
	org := organizations.NewFromConfig(mgmt)
	must(org.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: otypes.OrganizationFeatureSetAll}))
	member := must(org.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String("data"), Email: aws.String("data@example.com")}))
	acct = aws.ToString(member.CreateAccountStatus.AccountId)
	cfg = awsconf.AssumeRole(mgmt, "arn:aws:iam::"+acct+":role/OrganizationAccountAccessRole", "", "vigil-test")
	c := iam.NewFromConfig(cfg)
	aud := `"` + ghIssuer + `:aud":"sts.amazonaws.com"`
	fedTrust := func(cond string) string { return fedTrustOf(acct, ghIssuer, cond) }
	const gl, tfc = "gitlab.com", "app.terraform.io"
	roles := map[string]string{
		// The other bad shapes, each with its fixed twin.
		"gha-ifexists":     fedTrust(`{"StringEquals":{` + aud + `},"StringLikeIfExists":{"` + ghIssuer + `:sub":"repo:acme/etl:*"}}`),
		"gha-ifexists-fix": fedTrust(`{"StringEquals":{` + aud + `},"StringLike":{"` + ghIssuer + `:sub":"repo:acme/etl:environment:prod"}}`),
		"gha-any-owner":    fedTrust(`{"StringEquals":{` + aud + `},"StringLike":{"` + ghIssuer + `:sub":"repo:*/etl:ref:refs/heads/main"}}`),
		"gha-owner-prefix": fedTrust(`{"StringEquals":{` + aud + `},"StringLike":{"` + ghIssuer + `:sub":"repo:acme*"}}`),
		"gha-any-ref":      fedTrust(`{"StringEquals":{` + aud + `},"StringLike":{"` + ghIssuer + `:sub":"repo:acme/etl:*"}}`),
		"gha-one-ref":      fedTrust(`{"StringEquals":{` + aud + `,"` + ghIssuer + `:sub":"repo:acme/etl:ref:refs/heads/main"}}`),
		"gha-pr-write":     fedTrust(`{"StringEquals":{` + aud + `,"` + ghIssuer + `:sub":"repo:acme/etl:pull_request"}}`),
		"gha-pr-read":      fedTrust(`{"StringEquals":{` + aud + `,"` + ghIssuer + `:sub":"repo:acme/etl:pull_request"}}`),
		"gha-no-aud":       fedTrust(`{"StringEquals":{"` + ghIssuer + `:sub":"repo:acme/etl:ref:refs/heads/main"}}`),
		"gitlab-any":       fedTrustOf(acct, gl, `{"StringEquals":{"gitlab.com:aud":"https://gitlab.com"},"StringLike":{"gitlab.com:sub":"project_path:data/*"}}`),
		"gitlab-fix":       fedTrustOf(acct, gl, `{"StringEquals":{"gitlab.com:aud":"https://gitlab.com","gitlab.com:sub":"project_path:data/etl:ref_type:branch:ref:main"}}`),
		"tfc-any":          fedTrustOf(acct, tfc, `{"StringEquals":{"app.terraform.io:aud":"aws.workload.identity"},"StringLike":{"app.terraform.io:sub":"organization:acme:project:*:workspace:*:run_phase:*"}}`),
		"tfc-fix":          fedTrustOf(acct, tfc, `{"StringEquals":{"app.terraform.io:aud":"aws.workload.identity","app.terraform.io:sub":"organization:acme:project:data:workspace:warehouse:run_phase:apply"}}`),

		"gha-open":     fedTrust(`{"StringEquals":{` + aud + `}}`),
		"gha-fixed":    fedTrust(`{"StringEquals":{` + aud + `,"` + ghIssuer + `:sub":"repo:acme/etl:ref:refs/heads/main"}}`),
		"gha-org":      fedTrust(`{"StringEquals":{` + aud + `},"StringLike":{"` + ghIssuer + `:sub":"repo:acme/*"}}`),
		"gha-org-fix":  fedTrust(`{"StringEquals":{` + aud + `},"StringLike":{"` + ghIssuer + `:sub":"repo:acme/etl:environment:prod"}}`),
		"public":       awsTrust(`"*"`, ""),
		"public-fixed": awsTrust(`{"AWS":"*"}`, `{"StringEquals":{"aws:PrincipalOrgID":"o-abcdefghij"}}`),
		"vendor":       awsTrust(`{"AWS":"arn:aws:iam::999999999999:root"}`, ""),
		"vendor-fixed": awsTrust(`{"AWS":"arn:aws:iam::999999999999:root"}`, `{"StringEquals":{"sts:ExternalId":"vigil-7f3a"}}`),
		"deployer":     fedTrust(`{"StringEquals":{` + aud + `,"` + ghIssuer + `:sub":["repo:acme/deploy:ref:refs/heads/main","repo:acme/deploy:ref:refs/heads/dev"]}}`),
		"bounded":      ec2Trust,
		"scp-cut":      ec2Trust,
	}
	for name, trust := range roles {
		must(c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust)}))
	}
	// gha-org-fix and gha-pr-write can write; gha-pr-read only reads.
	for _, role := range []string{"gha-org-fix", "gha-pr-write"} {
		must(c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String("w"),
			PolicyDocument: doc(`{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::lake/*"}`)}))
	}
	must(c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("gha-pr-read"), PolicyName: aws.String("r"),
		PolicyDocument: doc(`{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":"arn:aws:s3:::lake/*"}`)}))

	// bounded: its policy grants what it declares and dynamodb:*, the
	// boundary allows only reads of the lake.
	b := must(c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("lake-read-boundary"),
		PolicyDocument: doc(`{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::lake","arn:aws:s3:::lake/*"]}`)}))
	must(c.PutRolePermissionsBoundary(ctx, &iam.PutRolePermissionsBoundaryInput{RoleName: aws.String("bounded"), PermissionsBoundary: b.Policy.Arn}))
	must(c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("bounded"), PolicyName: aws.String("lake"),
		PolicyDocument: doc(`{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::lake/*"}`,
			`{"Effect":"Allow","Action":"dynamodb:*","Resource":"*"}`)}))
	// scp-cut: granted s3:DeleteObject, which an SCP at the root denies.
	must(c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("scp-cut"), PolicyName: aws.String("lake"),
		PolicyDocument: doc(`{"Effect":"Allow","Action":["s3:GetObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::lake/*"}`)}))

	roots := must(org.ListRoots(ctx, &organizations.ListRootsInput{}))
	scp := must(org.CreatePolicy(ctx, &organizations.CreatePolicyInput{Name: aws.String("no-deletes"), Type: otypes.PolicyTypeServiceControlPolicy,
		Description: aws.String("test"),
		Content:     aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"}]}`)}))
	must(org.AttachPolicy(ctx, &organizations.AttachPolicyInput{PolicyId: scp.Policy.PolicySummary.Id, TargetId: roots.Roots[0].Id}))

	// Secrets shared beyond their consumers.
	sm := secretsmanager.NewFromConfig(cfg)
	put := func(name, kmsKey, pol string) {
		in := &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("canary-" + name)}
		if kmsKey != "" {
			in.KmsKeyId = aws.String(kmsKey)
		}
		must(sm.CreateSecret(ctx, in))
		if pol != "" {
			must(sm.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{SecretId: aws.String(name), ResourcePolicy: aws.String(pol)}))
		}
	}
	read := func(principal, cond string) string {
		if cond == "" {
			cond = "{}"
		}
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":` + principal + `,"Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":` + cond + `}]}`
	}
	put("prod/shared", "", read(`{"AWS":"arn:aws:iam::999999999999:root"}`, ""))
	put("prod/public", "", read(`"*"`, ""))
	put("prod/org-only", "", read(`"*"`, `{"StringEquals":{"aws:PrincipalOrgID":"o-abcdefghij"}}`))
	put("prod/etl", "", read(`{"AWS":["arn:aws:iam::`+acct+`:role/bounded","arn:aws:iam::`+acct+`:role/gha-fixed"]}`, ""))
	put("prod/private", "", "")
	km := kms.NewFromConfig(cfg)
	key := must(km.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(`{"Version":"2012-10-17","Statement":[` +
		`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"kms:*","Resource":"*"},` +
		`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::888888888888:root"},"Action":["kms:Decrypt","kms:DescribeKey"],"Resource":"*"}]}`)}))
	put("prod/kms-shared", aws.ToString(key.KeyMetadata.Arn), "")

	// A CI user whose key GitHub holds, in an account that trusts GitHub's issuer.
	must(c.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String("https://" + ghIssuer),
		ClientIDList: []string{"sts.amazonaws.com"}, ThumbprintList: []string{"6938fd4d98bab03faadb97b34396831e3780aea1"}}))
	must(c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("ci-bot")}))
	k := must(c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("ci-bot")}))
	return cfg, acct, aws.ToString(k.AccessKey.AccessKeyId)
}

const doorIdentities = `identities:
  - name: deployer
    kind: role
    trust:
      oidc:
        - provider: token.actions.githubusercontent.com
          subjects: ["repo:acme/deploy:ref:refs/heads/main"]
  - name: bounded
    kind: role
    grants:
      - actions: [s3:GetObject, s3:PutObject]
        resources: ["arn:aws:s3:::lake/*"]
  - name: scp-cut
    kind: role
    grants:
      - actions: [s3:GetObject, s3:DeleteObject]
        resources: ["arn:aws:s3:::lake/*"]
`

func TestDoorsAgainstMoto(t *testing.T) {
	mgmt := testenv.AWSConfig(t, testenv.Moto(t))
	cfg, acct, keyID := seedDoors(t, mgmt)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "identities.yaml"), []byte(doorIdentities), 0o600); err != nil {
		t.Fatal(err)
	}
	ids, err := rules.LoadIdentities(filepath.Join(dir, "identities.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	hash := func(s string) string { return "h:" + strings.ToLower(s) }
	s := &Scanner{
		Accounts: []awsconf.Account{{Name: "data", Config: cfg}}, Org: &awsconf.Account{Name: "management", Config: mgmt}, SecretRegions: []string{"us-east-1"},
		CI: func(context.Context) ([]CICredential, error) {
			return []CICredential{
				{Where: "github:org/acme/actions/AWS_ACCESS_KEY_ID", Name: "AWS_ACCESS_KEY_ID"},
				{Where: "github:org/acme/actions/DEPLOY_TOKEN", Name: "DEPLOY_TOKEN"},
				{Where: "github:repo/acme/etl/actions/variables/KEY", Name: "KEY", Hash: hash(keyID)},
			}, nil
		},
		Analyzer: &Analyzer{Identities: ids, Controls: rules.DefaultControls(), Ignore: []string{"*"}, Now: time.Now(), HashKeyID: hash,
			Consumers: map[string][]string{"awssm:prod/etl": {"bounded"}}},
	}
	var res []scanners.Result
	if err := s.Scan(context.Background(), nil, func(r scanners.Result) { res = append(res, r) }); err != nil {
		t.Fatal(err)
	}
	// The account, then the CI secrets known by name alone (a source of
	// their own: a name says nothing of the account).
	if len(res) != 2 || res[0].Source.String() != "iam:data" || res[1].Source.String() != "iam:ci" {
		t.Fatalf("results %+v", res)
	}
	for _, r := range res {
		if r.Err != nil || r.Mode != scanners.Full {
			t.Fatalf("%s: %v %v", r.Source, r.Mode, r.Err)
		}
	}
	if len(res[1].Findings) != 1 || res[1].Findings[0].Resource != "github:org/acme/actions/AWS_ACCESS_KEY_ID" || res[1].Findings[0].Source != "iam:ci" {
		t.Errorf("iam:ci: %+v", res[1].Findings)
	}
	all := append(append([]finding.Finding(nil), res[0].Findings...), res[1].Findings...)
	var got []string
	for _, f := range all {
		switch f.Kind {
		case finding.KindIAMOldKey, finding.KindIAMUnusedKey:
			continue // ci-bot's new key; drift_test covers those
		}
		who := f.Resource[strings.LastIndexAny(f.Resource, "/:")+1:]
		if strings.Contains(f.Resource, ":secret:") {
			who = fmt.Sprint(f.Evidence["secret"])
		}
		what := f.Evidence.String("reason")
		if by := f.Evidence.String("denied_by"); by != "" {
			what = f.Evidence.String("action") + " by " + by[:strings.Index(by, " (")]
		}
		if f.Kind == finding.KindIAMLongLivedKeyInCI {
			who, what = f.Resource, f.Evidence.String("iam_user")
		}
		got = append(got, fmt.Sprintf("%s %s %s %s", f.Kind, f.Severity, who, what))
	}
	sort.Strings(got)
	roots := must(organizations.NewFromConfig(mgmt).ListRoots(context.Background(), &organizations.ListRootsInput{}))
	root := aws.ToString(roots.Roots[0].Id)
	want := []string{
		"iam.long_lived_key_in_ci high github:repo/acme/etl/actions/variables/KEY arn:aws:iam::" + acct + ":user/ci-bot",
		"iam.trust_too_broad critical gha-ifexists oidc_weak_operator",
		"iam.trust_too_broad critical gha-any-owner oidc_owner_wildcard",
		"iam.trust_too_broad critical gha-owner-prefix oidc_owner_wildcard",
		"iam.trust_too_broad medium gha-any-ref oidc_ref_wildcard",
		"iam.trust_too_broad high gha-pr-write oidc_pull_request",
		"iam.trust_too_broad medium gha-no-aud oidc_no_audience",
		"iam.trust_too_broad high gitlab-any oidc_repo_wildcard",
		"iam.trust_too_broad high tfc-any oidc_repo_wildcard",
		"iam.long_lived_key_in_ci medium github:org/acme/actions/AWS_ACCESS_KEY_ID ",
		"iam.missing_grant medium bounded s3:PutObject by permissions boundary lake-read-boundary",
		"iam.missing_grant medium scp-cut s3:DeleteObject by the SCPs attached to " + root,
		"iam.resource_policy_too_broad critical prod/public anyone",
		"iam.resource_policy_too_broad high prod/kms-shared other_account",
		"iam.resource_policy_too_broad high prod/shared other_account",
		"iam.resource_policy_too_broad medium prod/etl undeclared_consumer",
		"iam.trust_too_broad critical gha-open oidc_no_subject",
		"iam.trust_too_broad critical public public",
		"iam.trust_too_broad high gha-org oidc_repo_wildcard",
		"iam.trust_too_broad high vendor no_external_id",
		"iam.undeclared_trust medium deployer undeclared",
	}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("findings:\n got  %s\n want %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
	for _, f := range all {
		if f.Kind == finding.KindIAMUndeclaredTrust && f.Evidence.String("trusted") != ghIssuer+" repo:acme/deploy:ref:refs/heads/dev" {
			t.Errorf("undeclared trust names %q", f.Evidence.String("trusted"))
		}
		if f.Kind == finding.KindIAMLongLivedKeyInCI && strings.Contains(fmt.Sprint(f), keyID) {
			t.Errorf("the key id found in a CI variable is named unredacted: %s", f.Title)
		}
		if strings.Contains(fmt.Sprint(f), "canary-") {
			t.Errorf("a secret value reached a finding: %s", f.ID)
		}
	}
}

// TestSCPsUnreadableIsPartial: an organisation vigil can't read makes the
// account partial (nothing resolved), with what was found kept.
func TestSCPsUnreadableIsPartial(t *testing.T) {
	cfg := testenv.AWSConfig(t, testenv.Moto(t))
	c := iam.NewFromConfig(cfg)
	must(c.CreateRole(context.Background(), &iam.CreateRoleInput{RoleName: aws.String("public"), AssumeRolePolicyDocument: aws.String(awsTrust(`"*"`, ""))}))
	acctCfg := awsconf.Account{Name: "moto", Config: cfg}
	// No organisation was created: Organizations answers AWSOrganizationsNotInUseException.
	s := &Scanner{Accounts: []awsconf.Account{acctCfg}, Org: &acctCfg, Analyzer: &Analyzer{Controls: rules.DefaultControls(), Ignore: []string{"*"}}}
	var res []scanners.Result
	s.Scan(context.Background(), nil, func(r scanners.Result) { res = append(res, r) })
	if len(res) != 1 || res[0].Mode != scanners.Partial || res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "SCPs") {
		t.Fatalf("%+v", res)
	}
	if len(res[0].Findings) != 1 || res[0].Findings[0].Kind != finding.KindIAMTrustTooBroad {
		t.Fatalf("findings kept: %+v", res[0].Findings)
	}
	// Without an organisation account, the note says SCPs were not evaluated.
	s.Org = nil
	res = nil
	s.Scan(context.Background(), nil, func(r scanners.Result) { res = append(res, r) })
	if res[0].Mode != scanners.Full || !strings.Contains(res[0].Note, "SCPs not evaluated") {
		t.Fatalf("%+v", res[0])
	}
}

// SCPs do not apply to the organisation's management account: a Deny at
// the root takes nothing from its principals.
func TestSCPsSpareTheManagementAccount(t *testing.T) {
	ctx := context.Background()
	mgmt := testenv.AWSConfig(t, testenv.Moto(t))
	org := organizations.NewFromConfig(mgmt)
	must(org.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: otypes.OrganizationFeatureSetAll}))
	roots := must(org.ListRoots(ctx, &organizations.ListRootsInput{}))
	scp := must(org.CreatePolicy(ctx, &organizations.CreatePolicyInput{Name: aws.String("no-deletes"), Type: otypes.PolicyTypeServiceControlPolicy,
		Description: aws.String("test"), Content: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"}]}`)}))
	must(org.AttachPolicy(ctx, &organizations.AttachPolicyInput{PolicyId: scp.Policy.PolicySummary.Id, TargetId: roots.Roots[0].Id}))
	c := iam.NewFromConfig(mgmt)
	must(c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("scp-cut"), AssumeRolePolicyDocument: aws.String(ec2Trust)}))
	must(c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("scp-cut"), PolicyName: aws.String("lake"),
		PolicyDocument: doc(`{"Effect":"Allow","Action":["s3:GetObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::lake/*"}`)}))
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ids.yaml"), []byte(doorIdentities), 0o600)
	ids, err := rules.LoadIdentities(filepath.Join(dir, "ids.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	a := awsconf.Account{Name: "management", Config: mgmt}
	s := &Scanner{Accounts: []awsconf.Account{a}, Org: &a, Analyzer: &Analyzer{Identities: ids, Controls: rules.DefaultControls(), Ignore: []string{"*"}}}
	var res []scanners.Result
	s.Scan(ctx, nil, func(r scanners.Result) { res = append(res, r) })
	if len(res) != 1 || res[0].Err != nil {
		t.Fatalf("%+v", res)
	}
	for _, f := range res[0].Findings {
		if f.Kind == finding.KindIAMMissingGrant {
			t.Errorf("an SCP was applied to the management account: %s", f.Title)
		}
	}
}

// In a sharded run each shard reads the accounts it owns and no shard
// reports the CI secrets known by name; the last step reads only whether
// any account trusts GitHub's OIDC issuer and reports them, once.
func TestShardsDivideAccounts(t *testing.T) {
	mgmt := testenv.AWSConfig(t, testenv.Moto(t))
	cfg, _, _ := seedDoors(t, mgmt)
	var accts []awsconf.Account
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		accts = append(accts, awsconf.Account{Name: n, Config: cfg})
	}
	s := &Scanner{Accounts: accts,
		CI: func(context.Context) ([]CICredential, error) {
			return []CICredential{{Where: "github:org/acme/actions/AWS_ACCESS_KEY_ID", Name: "AWS_ACCESS_KEY_ID"}}, nil
		},
		Analyzer: &Analyzer{Controls: rules.DefaultControls(), Ignore: []string{"*"}, Now: time.Now()},
	}
	seen := map[string]int{}
	for i := 0; i < 3; i++ {
		ctx := scanners.WithShard(context.Background(), scanners.Shard{I: i, N: 3})
		if err := s.Scan(ctx, nil, func(r scanners.Result) { seen[r.Source.String()]++ }); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range accts {
		if seen["iam:"+a.Name] != 1 {
			t.Errorf("account %s read by %d shards", a.Name, seen["iam:"+a.Name])
		}
	}
	if seen["iam:ci"] != 0 || len(seen) != len(accts) {
		t.Errorf("shards emitted %v", seen)
	}
	var final []scanners.Result
	if err := s.Scan(scanners.WithFinalizing(context.Background()), nil, func(r scanners.Result) { final = append(final, r) }); err != nil {
		t.Fatal(err)
	}
	if len(final) != 1 || final[0].Source.String() != "iam:ci" || final[0].Mode != scanners.Full || len(final[0].Findings) != 1 {
		t.Fatalf("last step: %+v", final)
	}
}
