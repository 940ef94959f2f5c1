package synthetic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/vigilsec/vigil/internal/ledger"
	"github.com/vigilsec/vigil/rules"
)

func TestValidateProbes(t *testing.T) {
	ids := loadIdentities(t, `identities:
  - name: loader
    kind: role
    probes:
      allow:
        - secretsmanager:GetSecretValue
        - iam:ListUsers everything
      deny:
        - iam:DeleteRole loader
        - sts:GetCallerIdentity
        - s3:ListBucket data-lake
  - name: etl
    kind: vault
    vault: nowhere
    policies: [etl]
    probes:
      allow:
        - write secret/data/prod/etl
        - delete secret/data/dev/etl
        - read
  - name: pod
    kind: kubernetes
    cluster: elsewhere
    namespace: etl
    service_account: loader
    probes:
      allow:
        - get secrets/etl
        - delete secrets/etl/warehouse
        - list secrets
`)
	var msgs []string
	for i := range ids {
		for _, err := range Validate(&ids[i], nil, []string{"prod"}, true) {
			msgs = append(msgs, err.Error())
		}
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		`:6: identity "loader": probe "secretsmanager:GetSecretValue": secretsmanager:GetSecretValue needs a target (secret id)`,
		`:7: identity "loader": probe "iam:ListUsers everything": iam:ListUsers takes no target`,
		`:9: identity "loader": probe "iam:DeleteRole loader": vigil has no read-only probe for iam:DeleteRole`,
		`:10: identity "loader": probe "sts:GetCallerIdentity"`,
		`:12: identity "etl": vault store "nowhere" is not configured`,
		`:18: identity "etl": probe "write secret/data/prod/etl": write probes are allowed only on a path listed in probes.canary`,
		`:19: identity "etl": probe "delete secret/data/dev/etl": a Vault probe is read, list or write`,
		`:20: identity "etl": probe "read": needs a path`,
		`:21: identity "pod": cluster "elsewhere" is not configured`,
		`:28: identity "pod": probe "get secrets/etl": get needs a name`,
		`:29: identity "pod": probe "delete secrets/etl/warehouse": a Kubernetes probe is get or list`,
		`:30: identity "pod": probe "list secrets": the target is RESOURCE[.GROUP]/NAMESPACE[/NAME]`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %q in:\n%s", want, all)
		}
	}
	if len(msgs) != 12 {
		t.Errorf("%d errors:\n%s", len(msgs), all)
	}
}

func TestSessionPolicyCoversExactlyTheProbes(t *testing.T) {
	probes := []rules.Probe{{Action: "secretsmanager:GetSecretValue", Target: "dev/db"}, {Action: "iam:ListUsers"},
		{Action: "s3:ListBucket", Target: "lake/x"}, {Action: "secretsmanager:GetSecretValue", Target: "arn:aws:secretsmanager:eu-west-1:1:secret:p-AbCdEf"}}
	p, err := sessionPolicy(probes, "us-east-1", "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListUsers","Resource":["*"]},` +
		`{"Effect":"Allow","Action":"s3:ListBucket","Resource":["arn:aws:s3:::lake"]},` +
		`{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":["arn:aws:secretsmanager:eu-west-1:1:secret:p-AbCdEf","arn:aws:secretsmanager:us-east-1:123456789012:secret:dev/db-??????"]}]}`
	if p != want {
		t.Fatalf("%s", p)
	}
	// Too many resources for AWS's 2,048 characters: actions only.
	var many []rules.Probe
	for i := range 60 {
		many = append(many, rules.Probe{Action: "secretsmanager:GetSecretValue", Target: fmt.Sprintf("team/app%02d/database-password", i)})
	}
	p, err = sessionPolicy(many, "us-east-1", "123456789012")
	var doc map[string]any
	if err != nil || json.Unmarshal([]byte(p), &doc) != nil || !strings.Contains(p, `"Resource":["*"]`) || len(p) > 2048 {
		t.Fatalf("%v %s", err, p)
	}
}

func TestClassifyAWS(t *testing.T) {
	resp := func(code int, err error) error {
		return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}}, Err: err}}
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, Allowed},
		{resp(403, &smithy.GenericAPIError{Code: "AccessDenied"}), Denied},
		{resp(400, &smithy.GenericAPIError{Code: "AccessDeniedException"}), Denied},
		{resp(403, &smithy.GenericAPIError{Code: "UnknownError"}), Denied}, // moto's unparsable 403
		{resp(403, errors.New("deserialization failed")), Denied},
		{resp(403, &smithy.GenericAPIError{Code: "SignatureDoesNotMatch"}), Inconclusive},
		{resp(403, &smithy.GenericAPIError{Code: "ExpiredToken"}), Inconclusive},
		{resp(404, &smithy.GenericAPIError{Code: "ResourceNotFoundException"}), Inconclusive},
		{resp(429, &smithy.GenericAPIError{Code: "ThrottlingException"}), Inconclusive},
		{errors.New("dial tcp: connection refused"), Inconclusive},
	} {
		if got := classifyAWS(c.err); got.Result != c.want {
			t.Errorf("%v: %s, want %s", c.err, got.Result, c.want)
		}
	}
}

type stubCredential struct{ verify Outcome }

func (c stubCredential) Probe(context.Context, rules.Probe) Outcome { return Outcome{Result: Denied} }
func (c stubCredential) Verify(context.Context, []rules.Probe, time.Duration) Outcome {
	return c.verify
}

// Revocation that can't be verified because nothing was ever allowed is
// recorded, not an error; one that can't be verified for another reason is.
func TestVerifyRevokedOutcomes(t *testing.T) {
	s := &Scanner{}
	id := &rules.Identity{Name: "etl"}
	for _, c := range []struct {
		out     Outcome
		err     bool
		finding bool
	}{
		{Outcome{Result: Denied}, false, false},
		{Outcome{Result: Allowed}, false, true},
		{Outcome{Result: Unverifiable, Err: "no probe succeeded"}, false, false},
		{Outcome{Result: Inconclusive, Err: "throttled"}, true, false},
	} {
		rec := &ledger.Credential{Revocation: map[string]any{}}
		f, err := s.verifyRevoked(context.Background(), id, rec, stubCredential{c.out}, nil)
		if (err != nil) != c.err || (f != nil) != c.finding || rec.Revocation["verify"] != c.out.Result {
			t.Errorf("%s: finding %v err %v ledger %v", c.out.Result, f, err, rec.Revocation)
		}
	}
}
