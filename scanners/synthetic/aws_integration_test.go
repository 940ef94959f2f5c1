package synthetic

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/ledger"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/rules"
)

// motoAccount sets up, with moto's unchecked admin credentials, the roles
// and data of the tests and an IAM user for vigil with only what vigil
// needs; then it switches enforcement on and returns vigil's configuration.
func motoAccount(t *testing.T, roles map[string]string) (vigil aws.Config, secretValue string) {
	t.Helper()
	ctx := context.Background()
	endpoint := testenv.Moto(t)
	admin := testenv.AWSConfig(t, endpoint)
	c := iam.NewFromConfig(admin)
	must := func(_ any, err error) {
		t.Helper()
		// On a loaded machine the SDK may resend a create whose first
		// attempt moto carried out (the connection dropped before the
		// answer): the object is there, as this setup wants.
		var ae smithy.APIError
		if errors.As(err, &ae) && (ae.ErrorCode() == "EntityAlreadyExists" || ae.ErrorCode() == "ResourceExistsException" || ae.ErrorCode() == "BucketAlreadyOwnedByYou") {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/vigil"},
		"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]}]}`
	for name, grants := range roles {
		must(c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust)}))
		must(c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String("job"),
			PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[` + grants + `]}`)}))
	}
	must(c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("vigil")}))
	must(c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("vigil"), PolicyName: aws.String("synthetic"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession",
		"sts:SetSourceIdentity","iam:GetRole","iam:PutRolePolicy","iam:DeleteRolePolicy","iam:GetRolePolicy","iam:ListRolePolicies"],"Resource":"*"}]}`)}))
	key, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("vigil")})
	if err != nil {
		t.Fatal(err)
	}
	secretValue = "pg-" + testenv.FakeAWSKey()
	must(sm.NewFromConfig(admin).CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("dev/app/db"), SecretString: aws.String(secretValue)}))
	must(s3.NewFromConfig(admin, pathStyle).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("data-lake")}))
	must(s3.NewFromConfig(admin, pathStyle).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("finance")}))

	testenv.MotoPost(t, "/moto-api/reset-auth", "0")
	vigil = admin.Copy()
	vigil.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey), "")
	return vigil, secretValue
}

// moto checks S3 signatures wrongly when a prefix holds "/"
// (SignatureDoesNotMatch, which vigil rightly calls inconclusive), so the
// prefix here has none.
const awsProbes = `    probes:
      allow:
        - secretsmanager:GetSecretValue dev/app/db
        - iam:ListRoles
        - s3:ListBucket data-lake/warehouse
      deny:
        - iam:ListUsers
        - s3:ListBucket finance
`

const (
	grantExact = `{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","iam:ListRoles"],"Resource":"*"},
		{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::data-lake"}`
	grantWide   = grantExact + `,{"Effect":"Allow","Action":"iam:*","Resource":"*"}`
	grantNarrow = `{"Effect":"Allow","Action":"iam:ListRoles","Resource":"*"},{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::data-lake"}`
)

func TestAWSLeastPrivilege(t *testing.T) {
	vigilCfg, value := motoAccount(t, map[string]string{"exact": grantExact, "wide": grantWide, "narrow": grantNarrow})
	var decl strings.Builder
	decl.WriteString("identities:\n")
	for _, n := range []string{"exact", "wide", "narrow"} {
		fmt.Fprintf(&decl, "  - name: %s\n    kind: role\n%s", n, awsProbes)
	}
	st, _ := testenv.Store(t)
	iss := &capture{Issuer: &AWSIssuer{Account: "default", Config: vigilCfg, SourceIdentity: "vigil"}}
	s := &Scanner{Identities: loadIdentities(t, decl.String()), Issuers: map[string]Issuer{"aws:default": iss}, Ledger: st,
		Controls: rules.DefaultControls(), RevokeWait: 3 * time.Second}
	res := scan(t, s)

	if r := res["synthetic:exact"]; r.Err != nil || len(r.Findings) != 0 {
		t.Errorf("exact grants: %v %+v", r.Err, r.Findings)
	}
	if k := kinds(res["synthetic:wide"].Findings); len(k) != 1 || strings.Join(k[finding.KindSynDeniedAllowed], ",") != "iam:ListUsers" {
		t.Errorf("wildcard grant: %v (err %v)", k, res["synthetic:wide"].Err)
	}
	if k := kinds(res["synthetic:narrow"].Findings); len(k) != 1 || strings.Join(k[finding.KindSynAllowedDenied], ",") != "secretsmanager:GetSecretValue dev/app/db" {
		t.Errorf("missing grant: %v (err %v)", k, res["synthetic:narrow"].Err)
	}
	// moto enforces S3 resources: the finance bucket was denied to all three.
	for _, r := range res {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Source, r.Err)
		}
	}

	led := ledgerRows(t, st)
	if len(led) != 3 {
		t.Fatalf("ledger has %d rows", len(led))
	}
	for name, rec := range led {
		if rec.Status != ledger.Revoked || rec.Revocation["verified"] != true || !strings.HasPrefix(rec.CredentialID, "ASIA") ||
			len(rec.Probes) != 5 || rec.RunID != "run-test" || rec.Target != "arn:aws:iam::123456789012:role/"+name {
			t.Errorf("%s: ledger row %+v", name, rec)
		}
		if d := rec.ExpiresAt.Sub(rec.IssuedAt); d < 15*time.Minute-2*time.Second || d > 16*time.Minute {
			t.Errorf("%s: credential lives %s, want the 900 s minimum", name, d)
		}
		// The revocation is an inline Deny on the role, narrowed to vigil's
		// session; it stays until the session has expired.
		pol, err := iam.NewFromConfig(vigilCfg).GetRolePolicy(context.Background(), &iam.GetRolePolicyInput{
			RoleName: aws.String(name), PolicyName: aws.String("vigil-revoke-" + rec.ID)})
		if err != nil || !strings.Contains(aws.ToString(pol.PolicyDocument), "TokenIssueTime") ||
			!strings.Contains(aws.ToString(pol.PolicyDocument), "vigil-"+rec.ID) {
			t.Errorf("%s: revocation policy: %v", name, err)
		}
		// The credential itself no longer works.
		if out := iss.creds[name].Probe(context.Background(), rules.Probe{Action: "iam:ListRoles"}); out.Result != Denied {
			t.Errorf("%s: revoked credential: %+v", name, out)
		}
	}

	// Once the sessions have expired, the next run removes the Denies.
	s.Now = func() time.Time { return time.Now().Add(time.Hour) }
	if err := s.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	for name, rec := range ledgerRows(t, st) {
		if rec.Status != ledger.Cleaned {
			t.Errorf("%s: after expiry, status %s", name, rec.Status)
		}
		names, _ := iam.NewFromConfig(vigilCfg).ListRolePolicies(context.Background(), &iam.ListRolePoliciesInput{RoleName: aws.String(name)})
		if len(names.PolicyNames) != 1 {
			t.Errorf("%s: role policies %v", name, names.PolicyNames)
		}
	}

	// Neither the session's secret nor the secret value is anywhere in the store.
	var canaries []string
	for _, c := range iss.creds {
		v, _ := c.(*awsCredential).cfg.Credentials.Retrieve(context.Background())
		canaries = append(canaries, v.SecretAccessKey, v.SessionToken)
	}
	assertAbsent(t, st, append(canaries, value)...)
}

// A run killed after the credential was issued leaves ledger rows that the
// next run revokes before anything else.
func TestAWSCrashRecovery(t *testing.T) {
	vigilCfg, _ := motoAccount(t, map[string]string{"exact": grantExact})
	ids := loadIdentities(t, "identities:\n  - name: exact\n    kind: role\n"+awsProbes)
	st, _ := testenv.Store(t)
	iss := &AWSIssuer{Account: "default", Config: vigilCfg}
	ctx := context.Background()
	// The first half of a check, as a run killed after issuing leaves it.
	rec := &ledger.Credential{ID: newLedgerID(), RunID: "killed", Issuer: iss.Key(), Identity: "exact", Status: ledger.Issuing}
	cred, err := iss.Issue(ctx, &ids[0], rec, time.Minute, func() error { return st.SaveCredential(ctx, rec) })
	if err != nil {
		t.Fatal(err)
	}
	rec.Status = ledger.Issued
	if err := st.SaveCredential(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if out := cred.Probe(ctx, rules.Probe{Action: "iam:ListRoles"}); out.Result != Allowed {
		t.Fatalf("fresh credential: %+v", out)
	}

	s := &Scanner{Issuers: map[string]Issuer{iss.Key(): iss}, Ledger: st}
	if err := s.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	got := ledgerRows(t, st)["exact"]
	if got.Status != ledger.Revoked || got.Revocation["recovered"] != true {
		t.Fatalf("after recovery: %+v", got)
	}
	if out := cred.Probe(ctx, rules.Probe{Action: "iam:ListRoles"}); out.Result != Denied {
		t.Fatalf("the crashed run's credential still works: %+v", out)
	}
}
