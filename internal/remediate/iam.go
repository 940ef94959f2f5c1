package remediate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/store"
)

// IAMAccount is one account's clients.
type IAMAccount struct {
	IAM *iam.Client
	STS *sts.Client
}

// Prober re-runs a declared identity's synthetic probes and returns the
// expected-allow probes that were denied; an error means the probes could
// not prove anything (and the change is rolled back, being unproven).
type Prober func(ctx context.Context, identity string) (denied []string, err error)

// IAM narrows principals, deactivates access keys and quarantines
// principals. Every change keeps what undoes it: the inline document
// before, the managed policy's default version before, the attachment, the
// key's status.
type IAM struct {
	Accounts map[string]IAMAccount // by account name in the config
	Hasher   *secrethash.Hasher
	// Probe verifies a narrowing; nil means no identity has probes.
	Probe Prober
	// Settle waits for IAM's eventual consistency before probing.
	Settle time.Duration
}

// QuarantinePolicy is the inline policy name a quarantine attaches.
const QuarantinePolicy = "vigil-quarantine"

// LeastPrivilegePolicy is the inline policy a narrowing installs when it
// could only detach the policies that granted too much.
const LeastPrivilegePolicy = "vigil-least-privilege"

// denyAll is the quarantine document.
const denyAll = `{"Version":"2012-10-17","Statement":[{"Sid":"VigilQuarantine","Effect":"Deny","Action":"*","Resource":"*"}]}`

// PrincipalSpec names a principal in an account.
type PrincipalSpec struct {
	Account string `json:"account"`
	ARN     string `json:"principal"`
	Kind    string `json:"kind"` // role | user
	Name    string `json:"name"`
}

// NarrowSpec is a planned narrowing.
type NarrowSpec struct {
	PrincipalSpec
	Identity  string   `json:"identity"`         // declared identity, whose probes verify
	Suggested string   `json:"suggested_policy"` // the drift scanner's narrowed document
	Policies  []string `json:"policies"`         // the policies that grant too much
	// Unverified: the identity declares no probes, so nothing can prove
	// the job still works after the change; applying needs
	// --allow-unverified.
	Unverified bool `json:"unverified,omitempty"`
}

// TrustSpec is a planned narrowing of a role's trust policy to the
// declared trust (the drift scanner's suggestion).
type TrustSpec struct {
	PrincipalSpec
	Suggested  string `json:"suggested_trust"`
	Unverified bool   `json:"unverified,omitempty"`
}

// KeySpec is a planned key deactivation (KeyID) or quarantine (none).
type KeySpec struct {
	PrincipalSpec
	KeyID string `json:"access_key_id,omitempty"`
}

type iamStep struct {
	Op         string   `json:"op"` // put_inline | new_version | detach | key_status | trust
	Policy     string   `json:"policy,omitempty"`
	Existed    bool     `json:"existed,omitempty"`
	OldDoc     string   `json:"old_doc,omitempty"`
	OldDefault string   `json:"old_default,omitempty"`
	Versions   []string `json:"versions,omitempty"`
	NewVersion string   `json:"new_version,omitempty"`
	KeyID      string   `json:"key_id,omitempty"`
	OldStatus  string   `json:"old_status,omitempty"`
}

type iamState struct {
	// ProbesDeniedBefore are the expected-allow probes already denied
	// before a narrowing: still denied after it is not a regression.
	ProbesDeniedBefore []string  `json:"probes_denied_before,omitempty"`
	Steps              []iamStep `json:"steps"`
	Note               string    `json:"note,omitempty"`
}

// PrincipalFromARN splits arn:aws:iam::ACCOUNT:role/path/name.
func PrincipalFromARN(account, arn string) (PrincipalSpec, error) {
	_, res, ok := strings.Cut(arn, ":iam::")
	if ok {
		_, res, ok = strings.Cut(res, ":")
	}
	kind, rest, ok2 := strings.Cut(res, "/")
	if !ok || !ok2 || (kind != "role" && kind != "user") {
		return PrincipalSpec{}, fmt.Errorf("%q is not an IAM role or user ARN", arn)
	}
	return PrincipalSpec{Account: account, ARN: arn, Kind: kind, Name: rest[strings.LastIndex(rest, "/")+1:]}, nil
}

// open decodes an action's spec (which embeds a PrincipalSpec) into spec
// and returns the clients of its account, recording who makes the change.
func (h *IAM) open(ctx context.Context, a *store.Action, spec any) (IAMAccount, error) {
	var p PrincipalSpec
	if err := errors.Join(decode(a.Spec, spec), decode(a.Spec, &p)); err != nil {
		return IAMAccount{}, err
	}
	acct, err := h.account(p)
	if err != nil {
		return acct, err
	}
	a.Caller = callerARN(ctx, acct.STS)
	return acct, nil
}

func (h *IAM) account(p PrincipalSpec) (IAMAccount, error) {
	a, ok := h.Accounts[p.Account]
	if !ok {
		return a, fmt.Errorf("no AWS account %q in the config", p.Account)
	}
	return a, nil
}

// Apply implements Handler.
func (h *IAM) Apply(ctx context.Context, a *store.Action, save func() error) error {
	switch a.Kind {
	case KindNarrow:
		return h.narrow(ctx, a, save)
	case KindDeactivateKey:
		return h.deactivate(ctx, a, save)
	case KindQuarantine:
		return h.quarantine(ctx, a, save)
	case KindNarrowTrust:
		return h.narrowTrust(ctx, a, save)
	}
	return fmt.Errorf("IAM can't apply %s", a.Kind)
}

// recorder appends steps to the action's state and saves it before the
// step is taken.
type recorder struct {
	a    *store.Action
	st   iamState
	save func() error
}

func (r *recorder) add(s iamStep) (*iamStep, error) {
	r.st.Steps = append(r.st.Steps, s)
	r.a.State = encode(r.st)
	return &r.st.Steps[len(r.st.Steps)-1], r.save()
}

func (r *recorder) update() error {
	r.a.State = encode(r.st)
	return r.save()
}

// sameDoc compares two policy documents as JSON values.
func sameDoc(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func (h *IAM) narrow(ctx context.Context, a *store.Action, save func() error) error {
	var spec NarrowSpec
	if err := decode(a.Spec, &spec); err != nil {
		return err
	}
	acct, err := h.account(spec.PrincipalSpec)
	if err != nil {
		return err
	}
	verify := !spec.Unverified
	if verify && (h.Probe == nil || spec.Identity == "") {
		return fmt.Errorf("%w: the plan verifies this narrowing with %s's probes, but this config has no synthetic checks for it", ErrVerify, spec.PrincipalSpec.Name)
	}
	// The probes run before the change as well: a probe already failing
	// (the identity was both broader and narrower than declared) is not
	// something the narrowing broke, and must not block it forever.
	var deniedBefore []string
	if verify {
		if deniedBefore, err = h.Probe(ctx, spec.Identity); err != nil {
			deniedBefore = nil // no baseline: every denial after the change counts
		}
	}
	c := acct.IAM
	a.Caller = callerARN(ctx, acct.STS)
	r := &recorder{a: a, save: save, st: iamState{ProbesDeniedBefore: deniedBefore}}
	before := map[string]string{}
	installed := false
	for _, id := range spec.Policies {
		if name, ok := strings.CutPrefix(id, "inline:"); ok {
			name = name[strings.LastIndex(name, "/")+1:]
			old, existed, err := getInline(ctx, c, spec.PrincipalSpec, name)
			if err != nil {
				return err
			}
			before[id] = old
			installed = true
			if existed && sameDoc(old, spec.Suggested) {
				continue // already narrowed
			}
			if _, err := r.add(iamStep{Op: "put_inline", Policy: name, Existed: existed, OldDoc: old}); err != nil {
				return err
			}
			if err := putInline(ctx, c, spec.PrincipalSpec, name, spec.Suggested); err != nil {
				return err
			}
			continue
		}
		pol, err := c.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(id)})
		if err != nil {
			return fmt.Errorf("GetPolicy %s: %w", id, err)
		}
		before[id] = aws.ToString(pol.Policy.DefaultVersionId)
		awsManaged := strings.Contains(id, ":aws:policy/")
		if !awsManaged && aws.ToInt32(pol.Policy.AttachmentCount) == 1 {
			vs, err := c.ListPolicyVersions(ctx, &iam.ListPolicyVersionsInput{PolicyArn: aws.String(id)})
			if err != nil {
				return fmt.Errorf("ListPolicyVersions %s: %w", id, err)
			}
			if len(vs.Versions) >= 5 {
				return fmt.Errorf("%s has %d versions, AWS's limit: delete an old one and re-run (vigil keeps the current one for rollback)", id, len(vs.Versions))
			}
			var ids []string
			for _, v := range vs.Versions {
				ids = append(ids, aws.ToString(v.VersionId))
			}
			step, err := r.add(iamStep{Op: "new_version", Policy: id, OldDefault: before[id], Versions: ids})
			if err != nil {
				return err
			}
			out, err := c.CreatePolicyVersion(ctx, &iam.CreatePolicyVersionInput{PolicyArn: aws.String(id),
				PolicyDocument: aws.String(spec.Suggested), SetAsDefault: true})
			if err != nil {
				return fmt.Errorf("CreatePolicyVersion %s: %w", id, err)
			}
			step.NewVersion = aws.ToString(out.PolicyVersion.VersionId)
			if err := r.update(); err != nil {
				return err
			}
			installed = true
			continue
		}
		// AWS managed, or shared with other principals: changing the policy
		// would change them too, so it is detached from this one only.
		if _, err := r.add(iamStep{Op: "detach", Policy: id}); err != nil {
			return err
		}
		if err := detach(ctx, c, spec.PrincipalSpec, id); err != nil {
			return err
		}
	}
	if !installed {
		old, existed, err := getInline(ctx, c, spec.PrincipalSpec, LeastPrivilegePolicy)
		if err != nil {
			return err
		}
		if _, err := r.add(iamStep{Op: "put_inline", Policy: LeastPrivilegePolicy, Existed: existed, OldDoc: old}); err != nil {
			return err
		}
		if err := putInline(ctx, c, spec.PrincipalSpec, LeastPrivilegePolicy, spec.Suggested); err != nil {
			return err
		}
	}
	b, _ := json.Marshal(before)
	a.BeforeHash, a.AfterHash = h.Hasher.Hash(string(b)), h.Hasher.Hash(spec.Suggested)
	if err := r.update(); err != nil {
		return err
	}
	if !verify {
		return nil
	}
	if h.Settle > 0 {
		select {
		case <-time.After(h.Settle):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	denied, err := h.Probe(ctx, spec.Identity)
	if err != nil {
		return fmt.Errorf("%w: the probes of %s could not prove the job still works: %v", ErrVerify, spec.Identity, err)
	}
	var broke []string
	for _, d := range denied {
		if !slices.Contains(deniedBefore, d) {
			broke = append(broke, d)
		}
	}
	if len(broke) > 0 {
		return fmt.Errorf("%w: after narrowing, %s is denied what it is declared to need (and was allowed before): %s", ErrVerify, spec.Identity, strings.Join(broke, "; "))
	}
	return nil
}

func (h *IAM) deactivate(ctx context.Context, a *store.Action, save func() error) error {
	var spec KeySpec
	acct, err := h.open(ctx, a, &spec)
	if err != nil {
		return err
	}
	status, err := keyStatus(ctx, acct.IAM, spec)
	if err != nil {
		return err
	}
	a.BeforeHash = h.Hasher.Hash(spec.KeyID + "=" + status)
	a.AfterHash = h.Hasher.Hash(spec.KeyID + "=" + string(types.StatusTypeInactive))
	if status == string(types.StatusTypeInactive) {
		return save()
	}
	r := &recorder{a: a, save: save}
	if _, err := r.add(iamStep{Op: "key_status", KeyID: spec.KeyID, OldStatus: status}); err != nil {
		return err
	}
	if _, err := acct.IAM.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(spec.Name),
		AccessKeyId: aws.String(spec.KeyID), Status: types.StatusTypeInactive}); err != nil {
		return fmt.Errorf("UpdateAccessKey %s of %s: %w", spec.KeyID, spec.Name, err)
	}
	if now, err := keyStatus(ctx, acct.IAM, spec); err != nil {
		return err
	} else if now != string(types.StatusTypeInactive) {
		return fmt.Errorf("%w: key %s is %s after deactivation", ErrVerify, spec.KeyID, now)
	}
	return nil
}

func keyStatus(ctx context.Context, c *iam.Client, spec KeySpec) (string, error) {
	out, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(spec.Name)})
	if err != nil {
		return "", fmt.Errorf("ListAccessKeys %s: %w", spec.Name, err)
	}
	for _, k := range out.AccessKeyMetadata {
		if aws.ToString(k.AccessKeyId) == spec.KeyID {
			return string(k.Status), nil
		}
	}
	return "", fmt.Errorf("user %s has no access key %s (deleted already?)", spec.Name, spec.KeyID)
}

// narrowTrust writes the narrowed trust policy, keeping the old one for
// rollback, and reads it back: what IAM holds must be what was planned.
func (h *IAM) narrowTrust(ctx context.Context, a *store.Action, save func() error) error {
	var spec TrustSpec
	acct, err := h.open(ctx, a, &spec)
	if err != nil {
		return err
	}
	old, err := getTrust(ctx, acct.IAM, spec.Name)
	if err != nil {
		return err
	}
	a.BeforeHash, a.AfterHash = h.Hasher.Hash(old), h.Hasher.Hash(spec.Suggested)
	if sameDoc(old, spec.Suggested) {
		return save()
	}
	r := &recorder{a: a, save: save}
	if _, err := r.add(iamStep{Op: "trust", Policy: "trust", OldDoc: old}); err != nil {
		return err
	}
	if err := putTrust(ctx, acct.IAM, spec.Name, spec.Suggested); err != nil {
		return err
	}
	if now, err := getTrust(ctx, acct.IAM, spec.Name); err != nil {
		return err
	} else if !sameDoc(now, spec.Suggested) {
		return fmt.Errorf("%w: role %s's trust policy is not the narrowed one after the update", ErrVerify, spec.Name)
	}
	return nil
}

func getTrust(ctx context.Context, c *iam.Client, role string) (string, error) {
	out, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(role)})
	if err != nil {
		return "", fmt.Errorf("GetRole %s: %w", role, err)
	}
	doc := aws.ToString(out.Role.AssumeRolePolicyDocument)
	if s, err := url.QueryUnescape(doc); err == nil {
		doc = s
	}
	return doc, nil
}

func putTrust(ctx context.Context, c *iam.Client, role, doc string) error {
	if _, err := c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(role), PolicyDocument: aws.String(doc)}); err != nil {
		return fmt.Errorf("UpdateAssumeRolePolicy %s: %w", role, err)
	}
	return nil
}

func (h *IAM) quarantine(ctx context.Context, a *store.Action, save func() error) error {
	var spec KeySpec
	acct, err := h.open(ctx, a, &spec)
	if err != nil {
		return err
	}
	old, existed, err := getInline(ctx, acct.IAM, spec.PrincipalSpec, QuarantinePolicy)
	if err != nil {
		return err
	}
	a.BeforeHash, a.AfterHash = h.Hasher.Hash(old), h.Hasher.Hash(denyAll)
	if existed && sameDoc(old, denyAll) {
		return save()
	}
	r := &recorder{a: a, save: save}
	if _, err := r.add(iamStep{Op: "put_inline", Policy: QuarantinePolicy, Existed: existed, OldDoc: old}); err != nil {
		return err
	}
	if err := putInline(ctx, acct.IAM, spec.PrincipalSpec, QuarantinePolicy, denyAll); err != nil {
		return err
	}
	if now, ok, err := getInline(ctx, acct.IAM, spec.PrincipalSpec, QuarantinePolicy); err != nil {
		return err
	} else if !ok || !sameDoc(now, denyAll) {
		return fmt.Errorf("%w: %s has no deny-all policy after the quarantine", ErrVerify, spec.ARN)
	}
	return nil
}

// Rollback implements Handler: the recorded steps are undone newest first.
func (h *IAM) Rollback(ctx context.Context, a *store.Action, save func() error) error {
	var p PrincipalSpec
	var st iamState
	if err := errors.Join(decode(a.Spec, &p), decode(a.State, &st)); err != nil {
		return err
	}
	if len(st.Steps) == 0 {
		return nil
	}
	acct, err := h.account(p)
	if err != nil {
		return err
	}
	c := acct.IAM
	a.Caller = callerARN(ctx, acct.STS)
	for i := len(st.Steps) - 1; i >= 0; i-- {
		s := st.Steps[i]
		var err error
		switch s.Op {
		case "put_inline":
			if s.Existed {
				err = putInline(ctx, c, p, s.Policy, s.OldDoc)
			} else {
				err = deleteInline(ctx, c, p, s.Policy)
			}
		case "new_version":
			err = restoreVersion(ctx, c, s)
		case "detach":
			err = attach(ctx, c, p, s.Policy)
		case "trust":
			err = putTrust(ctx, c, p.Name, s.OldDoc)
		case "key_status":
			_, err = c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(p.Name),
				AccessKeyId: aws.String(s.KeyID), Status: types.StatusType(s.OldStatus)})
		}
		if err != nil {
			return fmt.Errorf("undo %s %s: %w", s.Op, s.Policy+s.KeyID, err)
		}
		st.Steps = st.Steps[:i]
		st.Note = "rolled back"
		a.State = encode(st)
		if err := save(); err != nil {
			return err
		}
	}
	a.AfterHash = a.BeforeHash
	return save()
}

// restoreVersion makes the old default version the default again and
// deletes the versions vigil created.
func restoreVersion(ctx context.Context, c *iam.Client, s iamStep) error {
	if _, err := c.SetDefaultPolicyVersion(ctx, &iam.SetDefaultPolicyVersionInput{PolicyArn: aws.String(s.Policy),
		VersionId: aws.String(s.OldDefault)}); err != nil {
		return err
	}
	vs, err := c.ListPolicyVersions(ctx, &iam.ListPolicyVersionsInput{PolicyArn: aws.String(s.Policy)})
	if err != nil {
		return err
	}
	for _, v := range vs.Versions {
		id := aws.ToString(v.VersionId)
		if !v.IsDefaultVersion && !slices.Contains(s.Versions, id) {
			if _, err := c.DeletePolicyVersion(ctx, &iam.DeletePolicyVersionInput{PolicyArn: aws.String(s.Policy), VersionId: aws.String(id)}); err != nil {
				return err
			}
		}
	}
	return nil
}

func getInline(ctx context.Context, c *iam.Client, p PrincipalSpec, name string) (string, bool, error) {
	var doc *string
	var err error
	if p.Kind == "role" {
		var out *iam.GetRolePolicyOutput
		if out, err = c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(p.Name), PolicyName: aws.String(name)}); err == nil {
			doc = out.PolicyDocument
		}
	} else {
		var out *iam.GetUserPolicyOutput
		if out, err = c.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String(p.Name), PolicyName: aws.String(name)}); err == nil {
			doc = out.PolicyDocument
		}
	}
	if missing(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read inline policy %s of %s %s: %w", name, p.Kind, p.Name, err)
	}
	// IAM returns inline documents URL-encoded.
	s, uerr := url.QueryUnescape(aws.ToString(doc))
	if uerr != nil {
		s = aws.ToString(doc)
	}
	return s, true, nil
}

// missing reports IAM's NoSuchEntity: what a lookup, or an undo that
// removes something, finds already gone.
func missing(err error) bool {
	var nse *types.NoSuchEntityException
	return errors.As(err, &nse)
}

func putInline(ctx context.Context, c *iam.Client, p PrincipalSpec, name, doc string) error {
	var err error
	if p.Kind == "role" {
		_, err = c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(p.Name), PolicyName: aws.String(name), PolicyDocument: aws.String(doc)})
	} else {
		_, err = c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(p.Name), PolicyName: aws.String(name), PolicyDocument: aws.String(doc)})
	}
	if err != nil {
		return fmt.Errorf("put inline policy %s on %s %s: %w", name, p.Kind, p.Name, err)
	}
	return nil
}

func deleteInline(ctx context.Context, c *iam.Client, p PrincipalSpec, name string) error {
	var err error
	if p.Kind == "role" {
		_, err = c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(p.Name), PolicyName: aws.String(name)})
	} else {
		_, err = c.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String(p.Name), PolicyName: aws.String(name)})
	}
	if err != nil && !missing(err) {
		return fmt.Errorf("delete inline policy %s of %s %s: %w", name, p.Kind, p.Name, err)
	}
	return nil
}

func detach(ctx context.Context, c *iam.Client, p PrincipalSpec, arn string) error {
	var err error
	if p.Kind == "role" {
		_, err = c.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String(p.Name), PolicyArn: aws.String(arn)})
	} else {
		_, err = c.DetachUserPolicy(ctx, &iam.DetachUserPolicyInput{UserName: aws.String(p.Name), PolicyArn: aws.String(arn)})
	}
	if err != nil && !missing(err) {
		return fmt.Errorf("detach %s from %s %s: %w", arn, p.Kind, p.Name, err)
	}
	return nil
}

func attach(ctx context.Context, c *iam.Client, p PrincipalSpec, arn string) error {
	var err error
	if p.Kind == "role" {
		_, err = c.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(p.Name), PolicyArn: aws.String(arn)})
	} else {
		_, err = c.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String(p.Name), PolicyArn: aws.String(arn)})
	}
	if err != nil {
		return fmt.Errorf("attach %s to %s %s: %w", arn, p.Kind, p.Name, err)
	}
	return nil
}

// callerARN names the identity a change is made as, for the audit trail.
func callerARN(ctx context.Context, c *sts.Client) string {
	if c == nil {
		return ""
	}
	out, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return aws.ToString(out.Arn)
}
