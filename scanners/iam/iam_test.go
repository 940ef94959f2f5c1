package iam

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/vigilsec/vigil/internal/awsconf"
	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners"
)

const ec2Trust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func doc(stmts ...string) *string {
	return aws.String(`{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`)
}

// seed builds the account the test expects findings for.
func seed(t *testing.T, c *iam.Client) {
	t.Helper()
	ctx := context.Background()
	role := func(name string) {
		must(c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(ec2Trust)}))
	}
	// etl-loader: exactly its declaration, split over a managed and an inline policy.
	role("etl-loader")
	mp := must(c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("etl-read"),
		PolicyDocument: doc(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::warehouse/exports/*"}`)}))
	must(c.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("etl-loader"), PolicyArn: mp.Policy.Arn}))
	must(c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("etl-loader"), PolicyName: aws.String("list"),
		PolicyDocument: doc(`{"Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::warehouse"]}`)}))
	// reporting: its read, plus s3:* on everything; lacks its dynamodb need.
	role("reporting")
	must(c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("reporting"), PolicyName: aws.String("reports"),
		PolicyDocument: doc(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::warehouse/reports/*"}`,
			`{"Effect":"Allow","Action":"s3:*","Resource":"*"}`)}))
	// break-glass: undeclared, and administrator.
	role("break-glass")
	must(c.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("break-glass"), PolicyArn: aws.String(AdministratorAccess)}))
	// vpc-only: the right grant without the declared VPC condition.
	role("vpc-only")
	must(c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("vpc-only"), PolicyName: aws.String("read"),
		PolicyDocument: doc(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::private/*"}`)}))
	// legacy-ci: a user whose grant comes from a group, with an access key.
	must(c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("legacy-ci")}))
	must(c.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("deployers")}))
	must(c.AddUserToGroup(ctx, &iam.AddUserToGroupInput{GroupName: aws.String("deployers"), UserName: aws.String("legacy-ci")}))
	must(c.PutGroupPolicy(ctx, &iam.PutGroupPolicyInput{GroupName: aws.String("deployers"), PolicyName: aws.String("describe"),
		PolicyDocument: doc(`{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}`)}))
	must(c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("legacy-ci")}))
}

type row struct {
	kind      finding.Kind
	who, what string
}

func rowsOf(fs []finding.Finding) []row {
	var out []row
	for _, f := range fs {
		who := f.Resource[strings.LastIndex(f.Resource, "/")+1:]
		what := ""
		switch f.Kind {
		case finding.KindIAMExcessGrant:
			what = fmt.Sprintf("%s %v", f.Evidence["uncovered_action"], f.Evidence["uncovered_resources"])
		case finding.KindIAMMissingGrant:
			what = fmt.Sprintf("%s %v", f.Evidence["action"], f.Evidence["resources"])
		case finding.KindIAMWildcard:
			what = fmt.Sprint(f.Evidence["action"])
		case finding.KindIAMAdmin:
			what = fmt.Sprint(f.Evidence["policy"])
		}
		out = append(out, row{f.Kind, who, what})
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

func TestDriftAgainstMoto(t *testing.T) {
	endpoint := testenv.Moto(t)
	cfg := testenv.AWSConfig(t, endpoint)
	seed(t, iam.NewFromConfig(cfg))
	ids, err := rules.LoadIdentities("testdata/identities.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := &Scanner{Accounts: []awsconf.Account{{Name: "moto", Config: cfg}},
		Analyzer: &Analyzer{Identities: ids, Controls: rules.DefaultControls(), Now: time.Now().Add(200 * 24 * time.Hour)}}
	var res []scanners.Result
	if err := s.Scan(context.Background(), nil, func(r scanners.Result) { res = append(res, r) }); err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Err != nil {
		t.Fatalf("results %+v", res)
	}
	got := rowsOf(res[0].Findings)
	want := []row{
		{finding.KindIAMAdmin, "break-glass", AdministratorAccess},
		{finding.KindIAMExcessGrant, "legacy-ci", "ec2:Describe* [*]"},
		{finding.KindIAMExcessGrant, "reporting", "s3:* [*]"},
		{finding.KindIAMExcessGrant, "vpc-only", "s3:GetObject [arn:aws:s3:::private/*]"},
		{finding.KindIAMMissingGrant, "reporting", "dynamodb:Query [arn:aws:dynamodb:us-east-1:123456789012:table/reports]"},
		{finding.KindIAMOldKey, "legacy-ci", ""},
		{finding.KindIAMUndeclaredPrincipal, "break-glass", ""},
		{finding.KindIAMUnusedKey, "legacy-ci", ""},
		{finding.KindIAMWildcard, "reporting", "s3:*"},
	}
	sort.Slice(want, func(i, j int) bool { return fmt.Sprint(want[i]) < fmt.Sprint(want[j]) })
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("findings:\n got  %v\n want %v", got, want)
	}
	for _, f := range res[0].Findings {
		if strings.HasSuffix(f.Resource, "/etl-loader") {
			t.Errorf("etl-loader matches its declaration but got %s", f.Kind)
		}
		if f.Kind == finding.KindIAMExcessGrant && strings.HasSuffix(f.Resource, "/reporting") {
			var sugg map[string]any
			if err := json.Unmarshal([]byte(f.Evidence["suggested_policy"].(string)), &sugg); err != nil {
				t.Fatalf("suggested policy: %v", err)
			}
			b, _ := json.Marshal(sugg["Statement"])
			if string(b) != `[{"Action":["s3:GetObject"],"Effect":"Allow","Resource":["arn:aws:s3:::warehouse/reports/*"],"Sid":"grant0"}]` {
				t.Errorf("suggested policy statements %s", b)
			}
			if !strings.Contains(f.Evidence["statement"].(string), `"s3:*"`) || f.Evidence["declared_policy"] != "testdata/identities.yaml#reporting" {
				t.Errorf("evidence %v", f.Evidence)
			}
		}
	}
}

// TestAPICallsDoNotGrowWithPolicies checks the graph is read in pages, not
// per principal and policy: 30 roles with 3 policies each cost one page here.
func TestAPICallsDoNotGrowWithPolicies(t *testing.T) {
	cfg := testenv.AWSConfig(t, testenv.Moto(t))
	c := iam.NewFromConfig(cfg)
	ctx := context.Background()
	for i := 0; i < 30; i++ {
		name := fmt.Sprintf("job-%02d", i)
		must(c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(ec2Trust)}))
		for j := 0; j < 3; j++ {
			must(c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(fmt.Sprint("p", j)),
				PolicyDocument: doc(fmt.Sprintf(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b%d/*"}`, j))}))
		}
	}
	g, err := Fetch(ctx, c, "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Principals) != 30 || g.Calls != 1 {
		t.Fatalf("%d principals in %d calls", len(g.Principals), g.Calls)
	}
	for _, p := range g.Principals {
		if len(p.Policies) != 3 || p.Policies[0].Doc == nil {
			t.Fatalf("%s: %d policies", p.Name, len(p.Policies))
		}
	}
}

func TestUnreachableAccountIsPartial(t *testing.T) {
	cfg := testenv.AWSConfig(t, "http://127.0.0.1:1")
	cfg.RetryMaxAttempts = 1
	s := &Scanner{Accounts: []awsconf.Account{{Name: "gone", Config: cfg}}, Analyzer: &Analyzer{}}
	var res []scanners.Result
	s.Scan(context.Background(), nil, func(r scanners.Result) { res = append(res, r) })
	if len(res) != 1 || res[0].Mode != scanners.Partial || res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "iam gone") {
		t.Fatalf("%+v", res)
	}
}

func TestMain(m *testing.M) {
	// moto's account id is fixed; the declarations above use it.
	os.Exit(m.Run())
}
