package iam

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	otypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/vigilsec/vigil/internal/policy"
)

// OrgAPI is the part of the AWS Organizations client the scanner uses,
// called with the management account's (or a delegated administrator's)
// credentials.
type OrgAPI interface {
	ListParents(context.Context, *organizations.ListParentsInput, ...func(*organizations.Options)) (*organizations.ListParentsOutput, error)
	ListPoliciesForTarget(context.Context, *organizations.ListPoliciesForTargetInput, ...func(*organizations.Options)) (*organizations.ListPoliciesForTargetOutput, error)
	DescribePolicy(context.Context, *organizations.DescribePolicyInput, ...func(*organizations.Options)) (*organizations.DescribePolicyOutput, error)
	ListAccounts(context.Context, *organizations.ListAccountsInput, ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error)
	DescribeOrganization(context.Context, *organizations.DescribeOrganizationInput, ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error)
}

// SCPLevel is the service control policies attached at one level of an
// account's place in the organisation: the account itself, each OU above
// it, the root. A request must be allowed at every level and denied at
// none.
type SCPLevel struct {
	// Target is the account id, OU id (ou-...) or root id (r-...).
	Target   string
	Policies []Attached
}

// FetchSCPs reads the SCPs that apply to account, level by level from the
// account up to the root. SCPs do not apply to the management account
// (AWS's rule), which gets none.
func FetchSCPs(ctx context.Context, api OrgAPI, account, management string) ([]SCPLevel, error) {
	if account == management {
		return nil, nil
	}
	var levels []SCPLevel
	docs := map[string]Attached{}
	target, isRoot := account, false
	for depth := 0; depth < 8; depth++ { // Organizations allows five OU levels
		lvl := SCPLevel{Target: target}
		p := organizations.NewListPoliciesForTargetPaginator(api, &organizations.ListPoliciesForTargetInput{
			TargetId: aws.String(target), Filter: otypes.PolicyTypeServiceControlPolicy})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("ListPoliciesForTarget %s: %w", target, err)
			}
			for _, ps := range out.Policies {
				id := aws.ToString(ps.Id)
				a, ok := docs[id]
				if !ok {
					d, err := api.DescribePolicy(ctx, &organizations.DescribePolicyInput{PolicyId: ps.Id})
					if err != nil {
						return nil, fmt.Errorf("DescribePolicy %s: %w", id, err)
					}
					a = Attached{ID: aws.ToString(ps.Arn), Name: aws.ToString(ps.Name), Via: "scp:" + target}
					if d.Policy == nil {
						a.Err = fmt.Errorf("DescribePolicy returned no policy")
					} else {
						a.Doc, a.Err = policy.Parse(aws.ToString(d.Policy.Content))
					}
					docs[id] = a
				}
				a.Via = "scp:" + target
				lvl.Policies = append(lvl.Policies, a)
			}
		}
		levels = append(levels, lvl)
		if isRoot {
			return levels, nil
		}
		parents, err := api.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String(target)})
		if err != nil {
			return nil, fmt.Errorf("ListParents %s: %w", target, err)
		}
		if len(parents.Parents) == 0 {
			return levels, nil
		}
		target = aws.ToString(parents.Parents[0].Id)
		isRoot = parents.Parents[0].Type == otypes.ParentTypeRoot
	}
	return nil, fmt.Errorf("account %s is nested deeper than Organizations allows", account)
}

// Management returns the organisation's management account id.
func Management(ctx context.Context, api OrgAPI) (string, error) {
	out, err := api.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil {
		return "", fmt.Errorf("organizations:DescribeOrganization: %w", err)
	}
	if out.Organization == nil {
		return "", fmt.Errorf("organizations:DescribeOrganization returned no organisation")
	}
	return aws.ToString(out.Organization.MasterAccountId), nil
}

// OrgAccounts lists the organisation's account ids.
func OrgAccounts(ctx context.Context, api OrgAPI) ([]string, error) {
	var ids []string
	p := organizations.NewListAccountsPaginator(api, &organizations.ListAccountsInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return ids, fmt.Errorf("organizations:ListAccounts: %w", err)
		}
		for _, a := range out.Accounts {
			ids = append(ids, aws.ToString(a.Id))
		}
	}
	return ids, nil
}
