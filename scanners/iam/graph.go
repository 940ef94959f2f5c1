// Package iam compares live AWS IAM grants with the declared least-privilege
// policies, both ways: what is granted but not declared (too broad), and what
// is declared but not granted (the job would be denied).
package iam

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/vigilsec/vigil/internal/policy"
)

// API is the part of the IAM client the scanner uses.
type API interface {
	GetAccountAuthorizationDetails(context.Context, *iam.GetAccountAuthorizationDetailsInput, ...func(*iam.Options)) (*iam.GetAccountAuthorizationDetailsOutput, error)
	ListAccessKeys(context.Context, *iam.ListAccessKeysInput, ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error)
	GetAccessKeyLastUsed(context.Context, *iam.GetAccessKeyLastUsedInput, ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error)
}

// Graph is an account's principals with every policy that applies to them.
type Graph struct {
	Account    string
	Principals []Principal
	// Calls is how many IAM API calls reading the graph took.
	Calls int64
	// SCPs are the organisation's service control policies over the
	// account, nil when they were not read.
	SCPs []SCPLevel
	// OIDCProviders are the account's OpenID Connect provider ARNs.
	OIDCProviders []string
	// Secrets are the Secrets Manager secrets' resource and key policies.
	Secrets []SecretPolicy
}

// Principal is a role or a user.
type Principal struct {
	Kind     string // role | user
	Name     string
	ARN      string
	Path     string
	Groups   []string
	Policies []Attached
	Keys     []AccessKey
	// Boundary is the permissions boundary, nil when there is none: the
	// principal can do at most what it allows.
	Boundary *Attached
	// Trust is a role's trust policy (who may assume it); TrustErr says
	// why it could not be parsed.
	Trust    *policy.Document
	TrustErr error
}

// Attached is a policy that applies to a principal.
type Attached struct {
	// ID identifies the policy: a managed policy's ARN, or
	// "inline:<owner>/<name>" for an inline one.
	ID   string
	Name string
	// Via is "" when attached to the principal itself, "group:<name>" when
	// it comes from a group the user belongs to.
	Via string
	// Doc is the parsed document, nil when Err says why it could not be.
	Doc *policy.Document
	Err error
}

// AccessKey is a user's access key (its id only: never the secret).
type AccessKey struct {
	ID       string
	Active   bool
	Created  time.Time
	LastUsed time.Time // zero: never used
}

// AdministratorAccess is AWS's managed admin policy.
const AdministratorAccess = "arn:aws:iam::aws:policy/AdministratorAccess"

// Fetch reads the account's authorization graph: all of it through
// GetAccountAuthorizationDetails pages (not one call per principal per
// policy), then each user's access keys.
func Fetch(ctx context.Context, api API, account string) (*Graph, error) {
	g := &Graph{Account: account}
	var calls atomic.Int64
	managed := map[string]Attached{}
	groups := map[string][]Attached{}
	type raw struct {
		kind, name, arn, path string
		inline                []types.PolicyDetail
		attached              []types.AttachedPolicy
		groups                []string
		boundary              *types.AttachedPermissionsBoundary
		trust                 *string
	}
	var principals []raw
	p := iam.NewGetAccountAuthorizationDetailsPaginator(api, &iam.GetAccountAuthorizationDetailsInput{})
	for p.HasMorePages() {
		calls.Add(1)
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("GetAccountAuthorizationDetails: %w", err)
		}
		for _, mp := range out.Policies {
			a := Attached{ID: aws.ToString(mp.Arn), Name: aws.ToString(mp.PolicyName)}
			for _, v := range mp.PolicyVersionList {
				if v.IsDefaultVersion {
					a.Doc, a.Err = policy.Parse(aws.ToString(v.Document))
				}
			}
			if a.Doc == nil && a.Err == nil {
				a.Err = fmt.Errorf("no default version in the authorization details")
			}
			managed[a.ID] = a
		}
		for _, gr := range out.GroupDetailList {
			name := aws.ToString(gr.GroupName)
			for _, ip := range gr.GroupPolicyList {
				groups[name] = append(groups[name], inline("group/"+name, ip))
			}
			for _, ap := range gr.AttachedManagedPolicies {
				groups[name] = append(groups[name], Attached{ID: aws.ToString(ap.PolicyArn), Name: aws.ToString(ap.PolicyName)})
			}
		}
		for _, u := range out.UserDetailList {
			principals = append(principals, raw{"user", aws.ToString(u.UserName), aws.ToString(u.Arn), aws.ToString(u.Path),
				u.UserPolicyList, u.AttachedManagedPolicies, u.GroupList, u.PermissionsBoundary, nil})
		}
		for _, r := range out.RoleDetailList {
			principals = append(principals, raw{"role", aws.ToString(r.RoleName), aws.ToString(r.Arn), aws.ToString(r.Path),
				r.RolePolicyList, r.AttachedManagedPolicies, nil, r.PermissionsBoundary, r.AssumeRolePolicyDocument})
		}
	}
	// Attachments refer to managed policies by ARN; the documents come from
	// the Policies list of any page, so resolve once all pages are read.
	resolve := func(a Attached) Attached {
		if m, ok := managed[a.ID]; ok {
			m.Via = a.Via
			return m
		}
		if a.Doc == nil && a.Err == nil && a.ID != AdministratorAccess {
			a.Err = fmt.Errorf("document not returned by GetAccountAuthorizationDetails")
		}
		return a
	}
	for _, r := range principals {
		pr := Principal{Kind: r.kind, Name: r.name, ARN: r.arn, Path: r.path, Groups: r.groups}
		if r.boundary != nil && aws.ToString(r.boundary.PermissionsBoundaryArn) != "" {
			b := resolve(Attached{ID: aws.ToString(r.boundary.PermissionsBoundaryArn), Via: "boundary"})
			if b.Name == "" {
				b.Name = b.ID[strings.LastIndex(b.ID, "/")+1:]
			}
			pr.Boundary = &b
		}
		if r.trust != nil {
			pr.Trust, pr.TrustErr = policy.ParseResourcePolicy(aws.ToString(r.trust))
		}
		for _, ip := range r.inline {
			pr.Policies = append(pr.Policies, inline(r.kind+"/"+r.name, ip))
		}
		for _, ap := range r.attached {
			pr.Policies = append(pr.Policies, resolve(Attached{ID: aws.ToString(ap.PolicyArn), Name: aws.ToString(ap.PolicyName)}))
		}
		for _, gname := range r.groups {
			for _, a := range groups[gname] {
				a.Via = "group:" + gname
				if a.Doc == nil && a.Err == nil {
					a = resolve(a)
				}
				pr.Policies = append(pr.Policies, a)
			}
		}
		if r.kind == "user" {
			keys, err := userKeys(ctx, api, r.name, &calls)
			if err != nil {
				return nil, err
			}
			pr.Keys = keys
		}
		g.Principals = append(g.Principals, pr)
	}
	sort.Slice(g.Principals, func(i, j int) bool { return g.Principals[i].ARN < g.Principals[j].ARN })
	g.Calls = calls.Load()
	return g, nil
}

func inline(owner string, ip types.PolicyDetail) Attached {
	a := Attached{ID: "inline:" + owner + "/" + aws.ToString(ip.PolicyName), Name: aws.ToString(ip.PolicyName)}
	a.Doc, a.Err = policy.Parse(aws.ToString(ip.PolicyDocument))
	return a
}

func userKeys(ctx context.Context, api API, user string, calls *atomic.Int64) ([]AccessKey, error) {
	var keys []AccessKey
	p := iam.NewListAccessKeysPaginator(api, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	for p.HasMorePages() {
		calls.Add(1)
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("ListAccessKeys %s: %w", user, err)
		}
		for _, k := range out.AccessKeyMetadata {
			key := AccessKey{ID: aws.ToString(k.AccessKeyId), Active: k.Status == types.StatusTypeActive, Created: aws.ToTime(k.CreateDate)}
			calls.Add(1)
			lu, err := api.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: k.AccessKeyId})
			if err != nil {
				return nil, fmt.Errorf("GetAccessKeyLastUsed %s: %w", key.ID, err)
			}
			if lu.AccessKeyLastUsed != nil {
				key.LastUsed = aws.ToTime(lu.AccessKeyLastUsed.LastUsedDate)
			}
			keys = append(keys, key)
		}
	}
	return keys, nil
}
