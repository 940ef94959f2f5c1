// Package awsconf builds AWS SDK configurations the way every vigil scanner
// needs them: the default credential chain, an optional endpoint (an
// emulator such as moto), adaptive retries for throttling, and AssumeRole
// into an account. Which accounts a configuration names is internal/wiring's
// business; this package knows nothing of vigil.yaml.
package awsconf

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
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
