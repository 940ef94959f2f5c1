package iam

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/vigilsec/vigil/internal/policy"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/rules"
)

var services = []string{"s3", "dynamodb", "sqs", "kms", "logs", "secretsmanager", "glue", "athena"}

// synthetic builds an account of roles with stmtsPerRole statements each,
// and a declaration per role that matches most of it: a realistic mix of
// covered, excess and missing grants.
func synthetic(roles, stmtsPerRole int) (*Graph, []rules.Identity) {
	g := &Graph{Account: "123456789012"}
	var ids []rules.Identity
	for i := 0; i < roles; i++ {
		name := fmt.Sprintf("job-%05d", i)
		live := &policy.Document{Version: "2012-10-17"}
		decl := &policy.Document{Version: "2012-10-17"}
		for j := 0; j < stmtsPerRole; j++ {
			svc := services[(i+j)%len(services)]
			res := fmt.Sprintf("arn:aws:%s:us-east-1:123456789012:team%d/job%d/*", svc, i%50, i)
			act := policy.List{svc + ":Get*", svc + ":List*"}
			live.Statement = append(live.Statement, policy.Statement{Effect: "Allow", Action: act, Resource: policy.List{res}})
			switch {
			case j == 0 && i%10 == 0: // excess: live is broader than declared
				decl.Statement = append(decl.Statement, policy.Statement{Effect: "Allow", Action: policy.List{svc + ":GetObject"}, Resource: policy.List{res}})
			case j == 1 && i%7 == 0: // missing: declared needs more
				decl.Statement = append(decl.Statement, policy.Statement{Effect: "Allow", Action: policy.List{svc + ":Put*"}, Resource: policy.List{res}})
			default:
				decl.Statement = append(decl.Statement, policy.Statement{Effect: "Allow", Action: act, Resource: policy.List{res}})
			}
		}
		g.Principals = append(g.Principals, Principal{Kind: "role", Name: name, ARN: "arn:aws:iam::123456789012:role/" + name,
			Policies: []Attached{{ID: "inline:role/" + name + "/p", Name: "p", Doc: live}}})
		ids = append(ids, rules.Identity{Name: name, Kind: "role", Policy: decl, PolicyName: "decl#" + name, RotationDays: 90, UnusedDays: 90})
	}
	return g, ids
}

// BenchmarkAnalyze10kRoles50kStatements: analysis only (the fetch is
// excluded), 10,000 roles with 5 statements each.
func BenchmarkAnalyze10kRoles50kStatements(b *testing.B) {
	g, ids := synthetic(10000, 5)
	a := &Analyzer{Identities: ids, Controls: rules.DefaultControls(), Now: time.Now()}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		n = len(a.Analyze(g))
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(n), "findings")
	b.ReportMetric(float64(ms.HeapAlloc-before)/(1<<20), "heap-MiB")
}

// BenchmarkFetchCalls1000Roles seeds moto with 1,000 roles (two inline
// policies and one managed policy each) and reads the graph twice: as vigil
// does, and one role at a time (list roles, then per role: list and get
// inline policies, list attached policies, get each policy and its version).
func BenchmarkFetchCalls1000Roles(b *testing.B) {
	cfg := testenv.AWSConfig(b, testenv.Moto(b))
	c := iam.NewFromConfig(cfg)
	ctx := context.Background()
	trust := aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)
	mp, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("shared"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:PutLogEvents","Resource":"*"}]}`)})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		name := aws.String(fmt.Sprintf("job-%04d", i))
		c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: name, AssumeRolePolicyDocument: trust})
		for j := 0; j < 2; j++ {
			c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: name, PolicyName: aws.String(fmt.Sprint("p", j)),
				PolicyDocument: aws.String(fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b%d/*"}]}`, j))})
		}
		c.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: name, PolicyArn: mp.Policy.Arn})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		g, err := Fetch(ctx, c, "123456789012")
		if err != nil {
			b.Fatal(err)
		}
		vigilTook := time.Since(start)
		start = time.Now()
		naive := perRoleCalls(b, c)
		b.ReportMetric(float64(g.Calls), "vigil-calls")
		b.ReportMetric(vigilTook.Seconds(), "vigil-s")
		b.ReportMetric(float64(naive), "per-role-calls")
		b.ReportMetric(time.Since(start).Seconds(), "per-role-s")
	}
}

func perRoleCalls(b *testing.B, c *iam.Client) int {
	ctx := context.Background()
	calls := 0
	p := iam.NewListRolesPaginator(c, &iam.ListRolesInput{})
	for p.HasMorePages() {
		calls++
		out, err := p.NextPage(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range out.Roles {
			calls++
			inl, _ := c.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: r.RoleName})
			for _, n := range inl.PolicyNames {
				calls++
				c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: r.RoleName, PolicyName: aws.String(n)})
			}
			calls++
			att, _ := c.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: r.RoleName})
			for _, a := range att.AttachedPolicies {
				calls += 2
				pol, _ := c.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: a.PolicyArn})
				c.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: a.PolicyArn, VersionId: pol.Policy.DefaultVersionId})
			}
		}
	}
	return calls
}
