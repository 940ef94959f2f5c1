package remediate

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	otypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/vigilsec/vigil/internal/awsconf"
	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners"
	iamscan "github.com/vigilsec/vigil/scanners/iam"
)

const deployIdentities = etlIdentities + `  - name: deploy
    kind: role
    trust:
      oidc:
        - provider: token.actions.githubusercontent.com
          subjects: ["repo:acme/deploy:ref:refs/heads/main"]
`

// TestNarrowTrustEndToEnd: the drift scanner (as the audit user, under the
// example policy) finds a GitHub role open to every repository of the
// owner; the plan narrows it to the declared subject as the remediation user
// (example policy again), UNVERIFIED since no OIDC token can be minted here;
// the next scan finds it closed; a rollback restores the old policy.
func TestNarrowTrustEndToEnd(t *testing.T) {
	ctx := context.Background()
	fx := newIAMFixture(t, deployIdentities)
	const gh = "token.actions.githubusercontent.com"
	broad := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/` + gh + `"},` +
		`"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringLike":{"` + gh + `:sub":"repo:acme/*"}}}]}`
	testenv.MotoPost(t, "/moto-api/reset-auth", "inf")
	c := iam.NewFromConfig(fx.admin)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String("https://" + gh),
		ClientIDList: []string{"sts.amazonaws.com"}, ThumbprintList: []string{"6938fd4d98bab03faadb97b34396831e3780aea1"}}))
	must(c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("deploy"), AssumeRolePolicyDocument: aws.String(broad)}))
	// An organisation, whose SCPs the scan reads with the same example
	// audit policy (proving it suffices for that too).
	must(organizations.NewFromConfig(fx.admin).CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: otypes.OrganizationFeatureSetAll}))
	testenv.MotoPost(t, "/moto-api/reset-auth", "0")

	ids := fx.planner.Identities
	scan := func() []finding.Finding {
		t.Helper()
		acct := awsconf.Account{Name: "default", Config: fx.audit}
		s := &iamscan.Scanner{Accounts: []awsconf.Account{acct}, Org: &acct, SecretRegions: []string{"us-east-1"},
			Analyzer: &iamscan.Analyzer{Identities: ids, Controls: rules.DefaultControls(), Ignore: []string{"*"}}}
		var out []finding.Finding
		err := s.Scan(ctx, nil, func(r scanners.Result) {
			if r.Err != nil {
				t.Fatalf("scan as the audit user: %v", r.Err)
			}
			for _, f := range r.Findings {
				if strings.HasSuffix(f.Resource, ":role/deploy") {
					out = append(out, f)
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	fs := scan()
	if len(fs) != 3 { // repository wildcard, no audience, undeclared subject
		t.Fatalf("deploy findings: %+v", fs)
	}
	seed(t, fx.st, "iam:default", fs...)
	p, err := fx.planner.Plan(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var act *store.Action
	for i := range p.Actions {
		if p.Actions[i].Kind == KindNarrowTrust {
			act = &p.Actions[i]
		}
	}
	if act == nil || len(act.Findings) != 3 || !strings.Contains(act.Title, "UNVERIFIED") {
		t.Fatalf("plan: %+v", p)
	}
	if _, err := fx.engine.Apply(ctx, p.ID, act.ID); err != nil {
		t.Fatal(err)
	}
	if a := action(t, fx.st, act.ID); a.Status != store.ActPlanned {
		t.Fatalf("an unverified trust narrowing applied without --allow-unverified: %s", a.Status)
	}
	fx.engine.AllowUnverified = true
	if _, err := fx.engine.Apply(ctx, p.ID, act.ID); err != nil {
		t.Fatal(err)
	}
	if a := action(t, fx.st, act.ID); a.Status != store.ActApplied {
		t.Fatalf("apply: %s %s", a.Status, a.Error)
	}
	rc := iam.NewFromConfig(fx.remedCfg)
	now, err := getTrust(ctx, rc, "deploy")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(now, `"repo:acme/deploy:ref:refs/heads/main"`) || !strings.Contains(now, `"sts.amazonaws.com"`) || strings.Contains(now, "repo:acme/*") {
		t.Fatalf("narrowed trust: %s", now)
	}
	if left := scan(); len(left) != 0 {
		t.Fatalf("after narrowing: %+v", left)
	}
	if _, err := fx.engine.Rollback(ctx, act.ID, false); err != nil {
		t.Fatal(err)
	}
	if back, err := getTrust(ctx, rc, "deploy"); err != nil || !sameDoc(back, broad) {
		t.Fatalf("rollback left %s (%v)", back, err)
	}
	if got := strings.Join(auditActions(t, fx.st, act.ID), " "); got != "remediate.planned remediate.applying remediate.applied remediate.rolling_back remediate.rolled_back" {
		t.Errorf("audit trail: %s", got)
	}
}
