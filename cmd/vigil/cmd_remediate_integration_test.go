package main

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/vigilsec/vigil/internal/testenv"
)

// From drift findings to a narrowed role and back, through the CLI only.
func TestRemediateNarrowsWhatDriftFound(t *testing.T) {
	endpoint := testenv.Moto(t)
	c, dir := loaderRole(t, endpoint)
	ctx := context.Background()
	policy := func() string {
		out, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("loader"), PolicyName: aws.String("p")})
		if err != nil {
			t.Fatal(err)
		}
		s, _ := url.QueryUnescape(aws.ToString(out.PolicyDocument))
		return s
	}
	os.WriteFile(filepath.Join(dir, "vigil.yaml"), []byte("db: vigil.db\nrules:\n  identities: identities.yaml\naws:\n  endpoint: "+endpoint+"\n"), 0o644)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")

	if r := vigil(t, dir, "iam", "drift", "--config", "vigil.yaml"); r.code != exitFindings {
		t.Fatalf("drift: %d\n%s", r.code, r.stderr)
	}
	r := vigil(t, dir, "remediate", "plan", "--config", "vigil.yaml", "--format", "json")
	var plan struct {
		ID      string
		Actions []struct{ ID, Kind, Target, Status string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil || r.code != 0 {
		t.Fatalf("plan: %d %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	if len(plan.Actions) != 1 || plan.Actions[0].Kind != "iam.narrow" || plan.Actions[0].Target != "arn:aws:iam::123456789012:role/loader" {
		t.Fatalf("plan: %+v", plan)
	}
	id := plan.Actions[0].ID

	r = vigil(t, dir, "remediate", "apply", "--config", "vigil.yaml", "--plan", plan.ID)
	if r.code != 0 || !strings.Contains(r.stdout, "dry run") || !strings.Contains(policy(), `"s3:*"`) {
		t.Fatalf("apply without --approve: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// The identity declares no probes: the plan says so, and the narrowing
	// is not applied unless a person accepts that nothing verifies it.
	if r := vigil(t, dir, "remediate", "list", "--config", "vigil.yaml", "--plan", plan.ID[:12]); !strings.Contains(r.stdout, "UNVERIFIED") {
		t.Fatalf("plan does not say the narrowing is unverified:\n%s\n%s", r.stdout, r.stderr)
	}
	r = vigil(t, dir, "remediate", "apply", "--config", "vigil.yaml", "--plan", plan.ID, "--approve")
	if r.code != exitFindings || !strings.Contains(r.stderr, "--allow-unverified") || !strings.Contains(policy(), `"s3:*"`) {
		t.Fatalf("unverified apply without --allow-unverified: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// --action is repeatable: a second one is read, not dropped in favour
	// of the last (an unknown one is a usage error naming it).
	r = vigil(t, dir, "remediate", "apply", "--config", "vigil.yaml", "--plan", plan.ID, "--action", id, "--action", "act-nope", "--approve")
	if r.code != exitUsage || !strings.Contains(r.stderr, "act-nope") || !strings.Contains(policy(), `"s3:*"`) {
		t.Fatalf("two --action, one unknown: %d\n%s", r.code, r.stderr)
	}
	for i := 0; i < 2; i++ { // the second apply of the same plan changes nothing
		// Ids may be abbreviated as tables print them.
		r = vigil(t, dir, "remediate", "apply", "--config", "vigil.yaml", "--plan", plan.ID[:12], "--action", id[:16], "--approve", "--allow-unverified")
		if r.code != 0 || !strings.Contains(r.stdout, "applied") {
			t.Fatalf("apply %d: %d\n%s\n%s", i, r.code, r.stdout, r.stderr)
		}
		if p := policy(); strings.Contains(p, `s3:*`) || !strings.Contains(p, "arn:aws:s3:::exports/*") {
			t.Fatalf("not narrowed: %s", p)
		}
	}
	r = vigil(t, dir, "iam", "drift", "--config", "vigil.yaml", "--format", "json")
	if strings.Contains(r.stdout, "iam.excess_grant") {
		t.Errorf("drift after narrowing:\n%s", r.stdout)
	}

	r = vigil(t, dir, "remediate", "rollback", "--config", "vigil.yaml", "--action", id, "--approve")
	if r.code != 0 || !strings.Contains(policy(), `"s3:*"`) {
		t.Fatalf("rollback: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := vigil(t, dir, "audit", "verify", "--config", "vigil.yaml"); r.code != 0 {
		t.Errorf("audit verify: %d %s", r.code, r.stderr)
	}
	r = vigil(t, dir, "remediate", "rollback", "--config", "vigil.yaml", "--action", "act-nope", "--approve")
	if r.code == 0 || !strings.Contains(r.stderr, "act-nope") {
		t.Errorf("unknown action: %d %s", r.code, r.stderr)
	}
}
