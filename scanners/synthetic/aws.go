package synthetic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"

	"github.com/vigilsec/vigil/internal/ledger"
	"github.com/vigilsec/vigil/rules"
)

// AWS limits for AssumeRole.
const (
	minSessionDuration = 15 * time.Minute
	maxSessionDuration = 12 * time.Hour
)

// AWSIssuer mints credentials by sts:AssumeRole into a job's role and
// revokes them the way the console's "revoke active sessions" does: an
// inline Deny on the role for sessions issued before now, narrowed here to
// vigil's own session name so the job's real sessions are untouched. The
// Deny is removed once the session has expired.
type AWSIssuer struct {
	// Account is the configured account's name (aws.accounts[].name).
	Account string
	// Config holds vigil's own credentials in that account.
	Config aws.Config
	// SourceIdentity marks the sessions as vigil's in CloudTrail ("vigil").
	SourceIdentity string

	once      sync.Once
	accountID string
	idErr     error
}

// Key implements Issuer.
func (a *AWSIssuer) Key() string { return "aws:" + a.Account }

// AccountID returns the account's id (sts:GetCallerIdentity, once).
func (a *AWSIssuer) AccountID(ctx context.Context) (string, error) {
	a.once.Do(func() {
		out, err := sts.NewFromConfig(a.Config).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			a.idErr = fmt.Errorf("aws %s: who am I (sts:GetCallerIdentity): %w", a.Account, err)
			return
		}
		a.accountID = aws.ToString(out.Account)
	})
	return a.accountID, a.idErr
}

// awsAction is a read-only call vigil knows how to make as a probe.
type awsAction struct {
	// target: what the probe's target names, "" for none.
	target string
	// arn is the resource the session policy grants for target.
	arn  func(target, region, account string) string
	call func(ctx context.Context, cfg aws.Config, target string) error
}

func anyResource(string, string, string) string { return "*" }

// awsActions are the probes vigil can make, by lower-case action. Every one
// reads at most one item; a returned secret value is dropped unread.
var awsActions = map[string]awsAction{
	"iam:listusers": {arn: anyResource, call: func(ctx context.Context, c aws.Config, _ string) error {
		_, err := iam.NewFromConfig(c).ListUsers(ctx, &iam.ListUsersInput{MaxItems: aws.Int32(1)})
		return err
	}},
	"iam:listroles": {arn: anyResource, call: func(ctx context.Context, c aws.Config, _ string) error {
		_, err := iam.NewFromConfig(c).ListRoles(ctx, &iam.ListRolesInput{MaxItems: aws.Int32(1)})
		return err
	}},
	"iam:listpolicies": {arn: anyResource, call: func(ctx context.Context, c aws.Config, _ string) error {
		_, err := iam.NewFromConfig(c).ListPolicies(ctx, &iam.ListPoliciesInput{MaxItems: aws.Int32(1)})
		return err
	}},
	"iam:getrole": {target: "role name", arn: iamARN("role"), call: func(ctx context.Context, c aws.Config, t string) error {
		_, err := iam.NewFromConfig(c).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(lastSegment(t))})
		return err
	}},
	"iam:getuser": {target: "user name", arn: iamARN("user"), call: func(ctx context.Context, c aws.Config, t string) error {
		_, err := iam.NewFromConfig(c).GetUser(ctx, &iam.GetUserInput{UserName: aws.String(lastSegment(t))})
		return err
	}},
	"secretsmanager:listsecrets": {arn: anyResource, call: func(ctx context.Context, c aws.Config, _ string) error {
		_, err := sm.NewFromConfig(c).ListSecrets(ctx, &sm.ListSecretsInput{MaxResults: aws.Int32(1)})
		return err
	}},
	"secretsmanager:describesecret": {target: "secret id", arn: secretARN, call: func(ctx context.Context, c aws.Config, t string) error {
		_, err := sm.NewFromConfig(c).DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String(t)})
		return err
	}},
	"secretsmanager:getsecretvalue": {target: "secret id", arn: secretARN, call: func(ctx context.Context, c aws.Config, t string) error {
		out, err := sm.NewFromConfig(c).GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(t)})
		if out != nil {
			// Proving access needs the call, not the value.
			out.SecretString, out.SecretBinary = nil, nil
		}
		return err
	}},
	"s3:listallmybuckets": {arn: anyResource, call: func(ctx context.Context, c aws.Config, _ string) error {
		_, err := s3.NewFromConfig(c, pathStyle).ListBuckets(ctx, &s3.ListBucketsInput{})
		return err
	}},
	"s3:listbucket": {target: "bucket[/prefix]", arn: func(t, _, _ string) string {
		b, _, _ := strings.Cut(t, "/")
		return "arn:aws:s3:::" + b
	}, call: func(ctx context.Context, c aws.Config, t string) error {
		b, prefix, _ := strings.Cut(t, "/")
		_, err := s3.NewFromConfig(c, pathStyle).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(b), Prefix: aws.String(prefix), MaxKeys: aws.Int32(1)})
		return err
	}},
	// HeadObject is authorised as s3:GetObject and returns no body.
	"s3:getobject": {target: "bucket/key", arn: func(t, _, _ string) string { return "arn:aws:s3:::" + t }, call: func(ctx context.Context, c aws.Config, t string) error {
		b, key, _ := strings.Cut(t, "/")
		_, err := s3.NewFromConfig(c, pathStyle).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b), Key: aws.String(key)})
		return err
	}},
}

// pathStyle addresses buckets in the path, which works with custom
// endpoints (emulators) as well as with AWS.
func pathStyle(o *s3.Options) { o.UsePathStyle = true }

func iamARN(kind string) func(string, string, string) string {
	return func(t, _, account string) string {
		if strings.HasPrefix(t, "arn:") {
			return t
		}
		return "arn:aws:iam::" + account + ":" + kind + "/" + t
	}
}

// secretARN is the ARN pattern of a secret named t: Secrets Manager appends
// "-" and six random characters to the name.
func secretARN(t, region, account string) string {
	if strings.HasPrefix(t, "arn:") {
		return t
	}
	return "arn:aws:secretsmanager:" + region + ":" + account + ":secret:" + t + "-??????"
}

func lastSegment(s string) string { return s[strings.LastIndex(s, "/")+1:] }

// AWSActions lists the probe actions AWS identities may declare.
func AWSActions() []string {
	out := make([]string, 0, len(awsActions))
	for k := range awsActions {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// validateAWS checks a probe of an AWS identity: an action vigil can make
// read-only, with the target it needs.
func validateAWS(p rules.Probe) error {
	act, ok := awsActions[strings.ToLower(p.Action)]
	if !ok {
		return fmt.Errorf("probe %q: vigil has no read-only probe for %s (it knows %s)", p, p.Action, strings.Join(AWSActions(), ", "))
	}
	if act.target != "" && p.Target == "" {
		return fmt.Errorf("probe %q: %s needs a target (%s)", p, p.Action, act.target)
	}
	if act.target == "" && p.Target != "" {
		return fmt.Errorf("probe %q: %s takes no target", p, p.Action)
	}
	return nil
}

func sessionName(rec *ledger.Credential) string { return "vigil-" + rec.ID }

// Issue implements Issuer.
func (a *AWSIssuer) Issue(ctx context.Context, id *rules.Identity, rec *ledger.Credential, ttl time.Duration, save func() error) (Credential, error) {
	account, err := a.AccountID(ctx)
	if err != nil {
		return nil, err
	}
	roleARN := id.ARN
	if roleARN == "" {
		out, err := iam.NewFromConfig(a.Config).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(id.Name)})
		if err != nil {
			return nil, fmt.Errorf("find role %s: %w", id.Name, err)
		}
		roleARN = aws.ToString(out.Role.Arn)
	}
	ttl = max(min(ttl, maxSessionDuration), minSessionDuration).Round(time.Second)
	policy, err := sessionPolicy(id.Probes.All(), a.Config.Region, account)
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", id.Name, err)
	}
	tags := map[string]string{"vigil-run": rec.RunID, "vigil-ledger": rec.ID}
	rec.Target = roleARN
	rec.ExpiresAt = time.Now().Add(ttl)
	rec.Scope = map[string]any{
		"role": roleARN, "session_name": sessionName(rec), "source_identity": a.SourceIdentity,
		"duration_seconds": int(ttl.Seconds()), "session_policy": json.RawMessage(policy), "tags": tags,
	}
	if err := save(); err != nil {
		return nil, err
	}
	in := &sts.AssumeRoleInput{
		RoleArn:         aws.String(roleARN),
		RoleSessionName: aws.String(sessionName(rec)),
		DurationSeconds: aws.Int32(int32(ttl.Seconds())),
		Policy:          aws.String(policy),
	}
	if a.SourceIdentity != "" {
		in.SourceIdentity = aws.String(a.SourceIdentity)
	}
	for _, k := range []string{"vigil-run", "vigil-ledger"} {
		if tags[k] != "" {
			in.Tags = append(in.Tags, ststypes.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
		}
	}
	out, err := sts.NewFromConfig(a.Config).AssumeRole(ctx, in)
	if err != nil {
		var re *awshttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() >= 400 && re.HTTPStatusCode() < 500 && re.HTTPStatusCode() != http.StatusTooManyRequests {
			return nil, fmt.Errorf("%w: sts:AssumeRole %s: %v", ErrRefused, roleARN, err)
		}
		return nil, fmt.Errorf("sts:AssumeRole %s: %w", roleARN, err)
	}
	c := out.Credentials
	rec.CredentialID = aws.ToString(c.AccessKeyId)
	rec.IssuedAt = time.Now()
	if c.Expiration != nil {
		rec.ExpiresAt = *c.Expiration
	}
	cfg := a.Config.Copy()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	return &awsCredential{cfg: cfg}, nil
}

// sessionPolicy allows exactly the probes' actions on their resources. The
// session's permissions are the role's intersected with it, so a deny probe
// still fails or succeeds on the role's grants alone, while the credential
// can do nothing beyond the probes.
func sessionPolicy(probes []rules.Probe, region, account string) (string, error) {
	byAction := map[string]map[string]bool{}
	for _, p := range probes {
		act := awsActions[strings.ToLower(p.Action)]
		if byAction[p.Action] == nil {
			byAction[p.Action] = map[string]bool{}
		}
		byAction[p.Action][act.arn(p.Target, region, account)] = true
	}
	type stmt struct {
		Effect   string   `json:"Effect"`
		Action   string   `json:"Action"`
		Resource []string `json:"Resource"`
	}
	doc := struct {
		Version   string `json:"Version"`
		Statement []stmt `json:"Statement"`
	}{Version: "2012-10-17"}
	actions := make([]string, 0, len(byAction))
	for a := range byAction {
		actions = append(actions, a)
	}
	sort.Strings(actions)
	for _, a := range actions {
		var rs []string
		for r := range byAction[a] {
			rs = append(rs, r)
		}
		sort.Strings(rs)
		doc.Statement = append(doc.Statement, stmt{Effect: "Allow", Action: a, Resource: rs})
	}
	b, _ := json.Marshal(doc)
	// AWS packs session policies into 2,048 characters.
	if len(b) > 2048 {
		for i := range doc.Statement {
			doc.Statement[i].Resource = []string{"*"}
		}
		if b, _ = json.Marshal(doc); len(b) > 2048 {
			return "", fmt.Errorf("the session policy for %d probe actions exceeds AWS's 2,048 characters: declare fewer probes", len(actions))
		}
	}
	return string(b), nil
}

type awsCredential struct{ cfg aws.Config }

func (c *awsCredential) Probe(ctx context.Context, p rules.Probe) Outcome {
	return classifyAWS(awsActions[strings.ToLower(p.Action)].call(ctx, c.cfg, p.Target))
}

func (c *awsCredential) Verify(ctx context.Context, allowed []rules.Probe, wait time.Duration) Outcome {
	// sts:GetCallerIdentity can't be denied, so only a call that worked
	// before proves the revocation.
	if len(allowed) == 0 {
		return Outcome{Result: Unverifiable, Err: "no probe succeeded, so no call is known that revocation should stop"}
	}
	// IAM is eventually consistent: the Deny reaches every endpoint within
	// seconds, so a call that still works is retried until wait has passed.
	deadline := time.Now().Add(wait)
	for {
		out := c.Probe(ctx, allowed[0])
		if out.Result != Allowed || !time.Now().Before(deadline) || ctx.Err() != nil {
			return out
		}
		select {
		case <-ctx.Done():
		case <-time.After(min(2*time.Second, time.Until(deadline)+time.Millisecond)):
		}
	}
}

// classifyAWS reads a probe's error. AWS says AccessDenied (403, query and
// REST services) or AccessDeniedException (400, JSON services); moto answers
// some denials with a bare 403 whose body the SDK can't parse. Any other
// code, even on a 403 (SignatureDoesNotMatch, ExpiredToken), proves nothing.
func classifyAWS(err error) Outcome {
	if err == nil {
		return Outcome{Result: Allowed}
	}
	out := Outcome{Result: Inconclusive, Err: truncate(err.Error())}
	var ae smithy.APIError
	// "UnknownError" is the SDK's name for a body it could not parse.
	if errors.As(err, &ae) && ae.ErrorCode() != "" && ae.ErrorCode() != "UnknownError" {
		switch ae.ErrorCode() {
		case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError":
			out.Result = Denied
		}
		return out
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusForbidden {
		out.Result = Denied
	}
	return out
}

func revokePolicyName(rec *ledger.Credential) string { return "vigil-revoke-" + rec.ID }

// Revoke implements Issuer: an inline Deny of everything for vigil's session
// name, for tokens issued before now. It needs nothing but the ledger row.
func (a *AWSIssuer) Revoke(ctx context.Context, rec *ledger.Credential) error {
	if rec.Target == "" {
		// The crash came before the role was even resolved: no session.
		rec.Revocation = map[string]any{"method": "none", "reason": "no role was resolved, so no session was asked for"}
		return nil
	}
	// A second later than now, so a session issued in this very second is
	// covered whatever the rounding of aws:TokenIssueTime.
	before := time.Now().UTC().Add(time.Second).Truncate(time.Second).Format(time.RFC3339)
	doc, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Sid": "VigilRevokeSession", "Effect": "Deny", "Action": "*", "Resource": "*",
			"Condition": map[string]any{
				"DateLessThan": map[string]string{"aws:TokenIssueTime": before},
				"StringLike":   map[string]string{"aws:userid": "*:" + sessionName(rec)},
			},
		}},
	})
	role := lastSegment(rec.Target)
	if _, err := iam.NewFromConfig(a.Config).PutRolePolicy(ctx, &iam.PutRolePolicyInput{
		RoleName: aws.String(role), PolicyName: aws.String(revokePolicyName(rec)), PolicyDocument: aws.String(string(doc)),
	}); err != nil {
		return fmt.Errorf("revoke session %s on role %s (iam:PutRolePolicy): %w", sessionName(rec), role, err)
	}
	rec.Revocation = map[string]any{
		"method": "role inline deny", "role": role, "policy": revokePolicyName(rec),
		"token_issued_before": before, "session_name": sessionName(rec),
	}
	return nil
}

// Cleanup implements Issuer: once the session has expired the Deny has
// nothing left to stop, and it is removed so roles don't collect them.
func (a *AWSIssuer) Cleanup(ctx context.Context, rec *ledger.Credential, now time.Time) (bool, error) {
	name, _ := rec.Revocation["policy"].(string)
	if name == "" {
		return true, nil
	}
	if now.Before(rec.ExpiresAt) {
		return false, nil
	}
	role := lastSegment(rec.Target)
	_, err := iam.NewFromConfig(a.Config).DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(name)})
	var nse *iamtypes.NoSuchEntityException
	if err != nil && !errors.As(err, &nse) {
		return false, fmt.Errorf("remove revocation policy %s from role %s (iam:DeleteRolePolicy): %w", name, role, err)
	}
	return true, nil
}
