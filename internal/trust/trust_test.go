package trust

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/policy"
)

const gh = "token.actions.githubusercontent.com"

func ghTrust(cond string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111111111111:oidc-provider/` + gh + `"},` +
		`"Action":"sts:AssumeRoleWithWebIdentity","Condition":` + cond + `}]}`
}

func reasons(t *testing.T, text string, decl *Declared, c Context) string {
	t.Helper()
	doc, err := policy.ParseResourcePolicy(text)
	if err != nil {
		t.Fatalf("parse %s: %v", text, err)
	}
	var rs []string
	for _, is := range Analyze(doc, decl, c) {
		rs = append(rs, string(is.Reason))
	}
	return strings.Join(rs, ",")
}

// TestGitHubSubjects is the table of GitHub subject shapes: each bad shape
// and its fixed twin.
func TestGitHubSubjects(t *testing.T) {
	aud := `"` + gh + `:aud":"sts.amazonaws.com"`
	cases := []struct {
		name, cond, want string
		write            bool
		templates        map[string][]string
	}{
		{"no sub", `{"StringEquals":{` + aud + `}}`, "oidc_no_subject", false, nil},
		{"no condition at all", `{}`, "oidc_no_audience,oidc_no_subject", false, nil},
		{"exact branch", `{"StringEquals":{` + aud + `,"` + gh + `:sub":"repo:acme/etl:ref:refs/heads/main"}}`, "", false, nil},
		{"environment", `{"StringEquals":{` + aud + `,"` + gh + `:sub":"repo:acme/etl:environment:prod"}}`, "", true, nil},
		{"missing aud", `{"StringEquals":{"` + gh + `:sub":"repo:acme/etl:ref:refs/heads/main"}}`, "oidc_no_audience", false, nil},
		{"wildcard aud", `{"StringEquals":{"` + gh + `:sub":"repo:acme/etl:ref:refs/heads/main"},"StringLike":{"` + gh + `:aud":"*"}}`, "oidc_no_audience", false, nil},
		{"IfExists sub", `{"StringEquals":{` + aud + `},"StringLikeIfExists":{"` + gh + `:sub":"repo:acme/etl:*"}}`, "oidc_weak_operator", false, nil},
		{"ForAllValues sub", `{"StringEquals":{` + aud + `},"ForAllValues:StringLike":{"` + gh + `:sub":"repo:acme/*"}}`, "oidc_weak_operator", false, nil},
		{"any owner", `{"StringEquals":{` + aud + `},"StringLike":{"` + gh + `:sub":"repo:*/etl:ref:refs/heads/main"}}`, "oidc_owner_wildcard", false, nil},
		{"everything", `{"StringEquals":{` + aud + `},"StringLike":{"` + gh + `:sub":"*"}}`, "oidc_owner_wildcard", false, nil},
		{"owner prefix", `{"StringEquals":{` + aud + `},"StringLike":{"` + gh + `:sub":"repo:acme*"}}`, "oidc_owner_wildcard", false, nil},
		{"any repo", `{"StringEquals":{` + aud + `},"StringLike":{"` + gh + `:sub":"repo:acme/*"}}`, "oidc_repo_wildcard", false, nil},
		{"repo prefix", `{"StringEquals":{` + aud + `},"StringLike":{"` + gh + `:sub":"repo:acme/etl-*:ref:refs/heads/main"}}`, "oidc_repo_wildcard", false, nil},
		{"any ref", `{"StringEquals":{` + aud + `},"StringLike":{"` + gh + `:sub":"repo:acme/etl:*"}}`, "oidc_ref_wildcard", false, nil},
		{"any branch", `{"StringEquals":{` + aud + `},"StringLike":{"` + gh + `:sub":"repo:acme/etl:ref:refs/heads/*"}}`, "oidc_ref_wildcard", false, nil},
		{"repo only", `{"StringEquals":{` + aud + `,"` + gh + `:sub":"repo:acme/etl"}}`, "oidc_ref_wildcard", false, nil},
		{"repo only, template with context", `{"StringEquals":{` + aud + `,"` + gh + `:sub":"repo:acme/etl"}}`, "", false, map[string][]string{"acme": {"repo", "context"}}},
		// StringEquals takes "*" literally: no token has that subject.
		{"literal star", `{"StringEquals":{` + aud + `,"` + gh + `:sub":"repo:acme/*:ref:refs/heads/main"}}`, "", false, nil},
		{"pull_request, read-only role", `{"StringEquals":{` + aud + `,"` + gh + `:sub":"repo:acme/etl:pull_request"}}`, "", false, nil},
		{"pull_request, writing role", `{"StringEquals":{` + aud + `,"` + gh + `:sub":"repo:acme/etl:pull_request"}}`, "oidc_pull_request", true, nil},
		{"immutable ids", `{"StringEquals":{` + aud + `,"` + gh + `:sub":"repo:acme@1001/etl@2002:ref:refs/heads/main"}}`, "", false, nil},
		// Customised subject templates.
		{"custom: owner id and context", `{"StringEquals":{` + aud + `,"` + gh + `:sub":"repository_owner_id:1001:context:ref:refs/heads/main"}}`, "oidc_repo_wildcard", false, nil},
		{"custom: repository id", `{"StringEquals":{` + aud + `,"` + gh + `:sub":"repository_id:2002:environment:prod"}}`, "", false, nil},
		{"custom: no owner", `{"StringEquals":{` + aud + `,"` + gh + `:sub":"context:ref:refs/heads/main:job_workflow_ref:acme/wf/.github/workflows/d.yml@refs/heads/main"}}`, "oidc_owner_wildcard", false, nil},
		{"custom: workflow ref", `{"StringEquals":{` + aud + `,"` + gh + `:sub":"repo:acme/etl:job_workflow_ref:acme/wf/.github/workflows/d.yml@refs/heads/main"}}`, "", false, nil},
		{"custom: any workflow", `{"StringEquals":{` + aud + `},"StringLike":{"` + gh + `:sub":"repo:acme/etl:job_workflow_ref:*"}}`, "oidc_ref_wildcard", false, nil},
		// The organisation's template, read from GitHub, says which claims
		// a subject holds.
		{"template: owner and context", `{"StringEquals":{` + aud + `,"` + gh + `:sub":"repository_owner:acme:ref:refs/heads/main"}}`, "oidc_repo_wildcard", false,
			map[string][]string{"acme": {"repository_owner", "context"}}},
		{"template: repo, context, workflow", `{"StringEquals":{` + aud + `,"` + gh + `:sub":"repo:acme/etl:environment:prod:job_workflow_ref:acme/wf/.github/workflows/d.yml@refs/heads/main"}}`, "", true,
			map[string][]string{"acme": {"repo", "context", "job_workflow_ref"}}},
		{"enterprise issuer", `{"StringEquals":{` + aud + `},"StringLike":{"` + gh + `:sub":"repo:acme/*"}}`, "oidc_repo_wildcard", false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := reasons(t, ghTrust(tc.cond), nil, Context{Account: "111111111111", CanWrite: tc.write, Templates: tc.templates})
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestOtherIssuers(t *testing.T) {
	fed := func(host, cond string) string {
		return `{"Statement":{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111111111111:oidc-provider/` + host + `"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":` + cond + `}}`
	}
	const gl, tfc, circle = "gitlab.com", "app.terraform.io", "oidc.circleci.com/org/0d6a5d5c-9e4f-4d5a-8f40-1bd4c6f5b3aa"
	cases := []struct{ name, text, want string }{
		{"gitlab exact", fed(gl, `{"StringEquals":{"gitlab.com:aud":"https://gitlab.com","gitlab.com:sub":"project_path:data/etl:ref_type:branch:ref:main"}}`), ""},
		{"gitlab any group", fed(gl, `{"StringEquals":{"gitlab.com:aud":"https://gitlab.com"},"StringLike":{"gitlab.com:sub":"project_path:*"}}`), "oidc_owner_wildcard"},
		{"gitlab any project", fed(gl, `{"StringEquals":{"gitlab.com:aud":"https://gitlab.com"},"StringLike":{"gitlab.com:sub":"project_path:data/*"}}`), "oidc_repo_wildcard"},
		{"gitlab subgroup project", fed(gl, `{"StringEquals":{"gitlab.com:aud":"https://gitlab.com","gitlab.com:sub":"project_path:data/pipelines/etl:ref_type:branch:ref:main"}}`), ""},
		{"gitlab any ref", fed(gl, `{"StringEquals":{"gitlab.com:aud":"https://gitlab.com"},"StringLike":{"gitlab.com:sub":"project_path:data/etl:*"}}`), "oidc_ref_wildcard"},
		{"gitlab no sub", fed(gl, `{"StringEquals":{"gitlab.com:aud":"https://gitlab.com"}}`), "oidc_no_subject"},
		{"terraform exact", fed(tfc, `{"StringEquals":{"app.terraform.io:aud":"aws.workload.identity","app.terraform.io:sub":"organization:acme:project:data:workspace:warehouse:run_phase:apply"}}`), ""},
		{"terraform any workspace", fed(tfc, `{"StringEquals":{"app.terraform.io:aud":"aws.workload.identity"},"StringLike":{"app.terraform.io:sub":"organization:acme:project:*:workspace:*:run_phase:*"}}`), "oidc_repo_wildcard"},
		{"terraform any org", fed(tfc, `{"StringEquals":{"app.terraform.io:aud":"aws.workload.identity"},"StringLike":{"app.terraform.io:sub":"organization:*"}}`), "oidc_owner_wildcard"},
		{"circleci project", fed(circle, `{"StringEquals":{"`+circle+`:aud":"0d6a5d5c-9e4f-4d5a-8f40-1bd4c6f5b3aa","`+circle+`:sub":"org/0d6a5d5c-9e4f-4d5a-8f40-1bd4c6f5b3aa/project/5c3b2a1f-0000-4000-8000-000000000001/user/7b1e0f6e-0000-4000-8000-000000000002"}}`), ""},
		{"circleci any project", fed(circle, `{"StringEquals":{"`+circle+`:aud":"0d6a5d5c-9e4f-4d5a-8f40-1bd4c6f5b3aa"}}`), "oidc_repo_wildcard"},
		{"circleci project wildcard", fed(circle, `{"StringEquals":{"`+circle+`:aud":"0d6a5d5c-9e4f-4d5a-8f40-1bd4c6f5b3aa"},"StringLike":{"`+circle+`:sub":"org/0d6a5d5c-9e4f-4d5a-8f40-1bd4c6f5b3aa/project/*"}}`), "oidc_repo_wildcard"},
		{"cognito without pool", `{"Statement":{"Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":"sts:AssumeRoleWithWebIdentity"}}`, "oidc_no_audience,oidc_no_subject"},
		{"cognito with pool", `{"Statement":{"Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"cognito-identity.amazonaws.com:aud":"us-east-1:12345678-1234-1234-1234-123456789012"}}}}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := reasons(t, tc.text, nil, Context{Account: "111111111111"}); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAWSPrincipals(t *testing.T) {
	st := func(principal, cond string) string {
		if cond == "" {
			cond = "{}"
		}
		return `{"Statement":[{"Effect":"Allow","Principal":` + principal + `,"Action":"sts:AssumeRole","Condition":` + cond + `}]}`
	}
	own := Context{Account: "111111111111", Known: []string{"222222222222"}}
	cases := []struct {
		name, text string
		decl       *Declared
		want       string
	}{
		{"star", st(`"*"`, ""), nil, "public"},
		{"AWS star", st(`{"AWS":"*"}`, ""), nil, "public"},
		{"star within the org", st(`{"AWS":"*"}`, `{"StringEquals":{"aws:PrincipalOrgID":"o-abc123"}}`), nil, ""},
		{"star, org id only if present", st(`{"AWS":"*"}`, `{"StringEqualsIfExists":{"aws:PrincipalOrgID":"o-abc123"}}`), nil, "public"},
		{"star with external id only", st(`{"AWS":"*"}`, `{"StringEquals":{"sts:ExternalId":"x"}}`), nil, "public"},
		{"not principal", `{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}`, nil, "not_principal"},
		{"own account", st(`{"AWS":"arn:aws:iam::111111111111:role/ci"}`, ""), nil, ""},
		{"org account", st(`{"AWS":"arn:aws:iam::222222222222:root"}`, ""), nil, ""},
		{"third party without external id", st(`{"AWS":"arn:aws:iam::999999999999:root"}`, ""), nil, "no_external_id"},
		{"third party with external id", st(`{"AWS":"999999999999"}`, `{"StringEquals":{"sts:ExternalId":"a1b2c3"}}`), nil, ""},
		{"declared third party", st(`{"AWS":"999999999999"}`, `{"StringEquals":{"sts:ExternalId":"a1b2c3"}}`), &Declared{Accounts: []string{"999999999999"}}, ""},
		{"undeclared account", st(`{"AWS":"999999999999"}`, `{"StringEquals":{"sts:ExternalId":"a1b2c3"}}`), &Declared{Accounts: []string{"888888888888"}}, "undeclared"},
		{"declared principal glob", st(`{"AWS":"arn:aws:iam::111111111111:role/ci-deploy"}`, ""), &Declared{Principals: []string{"arn:aws:iam::111111111111:role/ci-*"}}, ""},
		{"undeclared service", st(`{"Service":["ec2.amazonaws.com","lambda.amazonaws.com"]}`, ""), &Declared{Principals: []string{"lambda.amazonaws.com"}}, "undeclared"},
		{"declaration requires external id of the org too", st(`{"AWS":"222222222222"}`, ""), &Declared{Accounts: []string{"222222222222"}, ExternalID: true}, "no_external_id"},
		{"deny is not a door", `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole"}]}`, nil, ""},
		{"other actions are not doors", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:GetCallerIdentity"}]}`, nil, ""},
		{"sts:* is a door", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:*"}]}`, nil, "public"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := reasons(t, tc.text, tc.decl, own); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDeclaredSubjects(t *testing.T) {
	decl := &Declared{OIDC: []OIDC{{Provider: "https://" + gh, Subjects: []string{"repo:acme/etl:ref:refs/heads/main", "repo:acme/etl:environment:*"}}}}
	aud := `"` + gh + `:aud":"sts.amazonaws.com"`
	c := Context{Account: "111111111111"}
	for cond, want := range map[string]string{
		`{"StringEquals":{` + aud + `,"` + gh + `:sub":"repo:acme/etl:ref:refs/heads/main"}}`:                                     "",
		`{"StringEquals":{` + aud + `,"` + gh + `:sub":"repo:acme/etl:environment:prod"}}`:                                        "",
		`{"StringEquals":{` + aud + `,"` + gh + `:sub":["repo:acme/etl:ref:refs/heads/main","repo:acme/x:ref:refs/heads/main"]}}`: "undeclared",
		`{"StringEquals":{` + aud + `},"StringLike":{"` + gh + `:sub":"repo:acme/etl:*"}}`:                                        "oidc_ref_wildcard,undeclared",
		`{"StringEquals":{` + aud + `}}`: "oidc_no_subject,undeclared",
	} {
		if got := reasons(t, ghTrust(cond), decl, c); got != want {
			t.Errorf("%s: got %q, want %q", cond, got, want)
		}
	}
	// An issuer the declaration does not name.
	if got := reasons(t, ghTrust(`{"StringEquals":{`+aud+`,"`+gh+`:sub":"repo:acme/etl:ref:refs/heads/main"}}`), &Declared{}, c); got != "undeclared" {
		t.Errorf("undeclared issuer: got %q", got)
	}
}

// FuzzAnalyze: no trust policy, however odd, makes the analysis panic.
func FuzzAnalyze(f *testing.F) {
	f.Add(ghTrust(`{"StringLike":{"` + gh + `:sub":"repo:*"}}`))
	f.Add(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}]}`)
	f.Add(`{"Statement":{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::1:oidc-provider/oidc.circleci.com/org/x"},"Action":"sts:*","Condition":{"StringLike":{"oidc.circleci.com/org/x:sub":"org/x/project/*/user/"}}}}`)
	f.Add(`{"Statement":{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::1:oidc-provider/gitlab.com"},"Action":"*","Condition":{"StringLike":{"gitlab.com:sub":"project_path::ref::"}}}}`)
	f.Fuzz(func(t *testing.T, text string) {
		doc, err := policy.ParseResourcePolicy(text)
		if err != nil {
			return
		}
		decl := &Declared{Principals: []string{"*"}, OIDC: []OIDC{{Provider: gh, Subjects: []string{"repo:*"}}}}
		for _, d := range []*Declared{nil, decl} {
			for _, is := range Analyze(doc, d, Context{Account: "111111111111", CanWrite: true, Templates: map[string][]string{"acme": {"repo"}}}) {
				if is.Reason == "" || is.Detail == "" {
					t.Fatalf("issue without reason or detail: %+v", is)
				}
				_ = fmt.Sprint(is)
			}
		}
	})
}
