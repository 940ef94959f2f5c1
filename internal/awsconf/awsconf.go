// Package awsconf builds AWS SDK configurations the way every vigil scanner
// needs them: the default credential chain, an optional endpoint (an
// emulator such as moto), adaptive retries for throttling, and AssumeRole
// into each configured account.
package awsconf

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/vigilsec/vigil/internal/config"
)

// Load reads credentials from the default chain (environment, shared files,
// IRSA / instance roles) for region and endpoint (empty: AWS). The adaptive
// retryer backs off on throttling rather than failing the run.
func Load(ctx context.Context, region, endpoint string) (aws.Config, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region),
		awsconfig.WithRetryer(func() aws.Retryer { return retry.NewAdaptiveMode() }))
	if err != nil {
		return cfg, fmt.Errorf("load AWS configuration: %w", err)
	}
	if endpoint != "" {
		cfg.BaseEndpoint = aws.String(endpoint)
	}
	return cfg, nil
}

// AssumeRole returns base's configuration acting as roleARN.
func AssumeRole(base aws.Config, roleARN, externalID, session string) aws.Config {
	c := base.Copy()
	c.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base), roleARN,
		func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = session
			if externalID != "" {
				o.ExternalID = aws.String(externalID)
			}
		}))
	return c
}

// Account is one configured account's name and SDK configuration.
type Account struct {
	Name   string
	Config aws.Config
}

// Accounts returns the aws: section's accounts in region (the default
// credentials' account when none is listed).
func Accounts(ctx context.Context, a *config.AWS, region, session string) ([]Account, error) {
	return accounts(ctx, a, region, session, false)
}

// RemediateAccounts is Accounts acting as each account's remediation role
// (remediate_role_arn, else role_arn): the only credentials that change
// anything.
func RemediateAccounts(ctx context.Context, a *config.AWS, region string) ([]Account, error) {
	return accounts(ctx, a, region, "vigil-remediate", true)
}

func accounts(ctx context.Context, a *config.AWS, region, session string, remediate bool) ([]Account, error) {
	if region == "" {
		region = a.Region
	}
	base, err := Load(ctx, region, a.Endpoint)
	if err != nil {
		return nil, err
	}
	if len(a.Accounts) == 0 {
		return []Account{{Name: "default", Config: base}}, nil
	}
	var out []Account
	for _, acct := range a.Accounts {
		c := base
		role := acct.RoleARN
		if remediate && acct.RemediateRoleARN != "" {
			role = acct.RemediateRoleARN
		}
		if role != "" {
			c = AssumeRole(base, role, acct.ExternalID, session)
		}
		out = append(out, Account{Name: acct.Name, Config: c})
	}
	return out, nil
}
