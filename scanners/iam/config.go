package iam

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/rules"
)

// AWSConfig loads credentials from the default chain (environment, shared
// files, IRSA / instance roles) for region and endpoint (empty: AWS). The
// adaptive retryer backs off on throttling rather than failing the run.
func AWSConfig(ctx context.Context, region, endpoint string) (aws.Config, error) {
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
func AssumeRole(base aws.Config, roleARN, externalID string) aws.Config {
	c := base.Copy()
	c.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base), roleARN,
		func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "vigil-iam-drift"
			if externalID != "" {
				o.ExternalID = aws.String(externalID)
			}
		}))
	return c
}

// New builds the IAM scanner for a vigil.yaml, or nil when it configures no
// AWS. The identities file is loaded and checked here, so a bad declaration
// fails the run up front with its file and line.
func New(ctx context.Context, cfg *config.Config, controls rules.Controls, log *slog.Logger) (*Scanner, error) {
	if cfg.AWS == nil {
		return nil, nil
	}
	var ids []rules.Identity
	if cfg.Rules.Identities != "" {
		var err error
		if ids, err = rules.LoadIdentities(cfg.Rules.Identities); err != nil {
			return nil, err
		}
	}
	base, err := AWSConfig(ctx, cfg.AWS.Region, cfg.AWS.Endpoint)
	if err != nil {
		return nil, err
	}
	s := &Scanner{Analyzer: &Analyzer{Identities: ids, Controls: controls, Ignore: cfg.AWS.IgnorePrincipals}, Log: log}
	if len(cfg.AWS.Accounts) == 0 {
		s.Accounts = []Account{{Name: "default", Config: base}}
	}
	for _, a := range cfg.AWS.Accounts {
		c := base
		if a.RoleARN != "" {
			c = AssumeRole(base, a.RoleARN, a.ExternalID)
		}
		s.Accounts = append(s.Accounts, Account{Name: a.Name, Config: c})
	}
	return s, nil
}
