package iam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/vigilsec/vigil/internal/awsconf"
	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/scanners"
)

// Scanner is the IAM drift scanner.
type Scanner struct {
	// Accounts are the accounts to read, each with credentials for it.
	Accounts []awsconf.Account
	// Org reads AWS Organizations (SCPs, the organisation's accounts);
	// nil: SCPs are not evaluated, which each result's note says.
	Org *awsconf.Account
	// SecretRegions are where secrets' resource policies are read.
	SecretRegions []string
	// CI returns the credentials CI systems hold (nil: not checked).
	CI func(context.Context) ([]CICredential, error)
	// Templates returns GitHub organisations' OIDC subject templates (nil:
	// none read; subjects are then read by GitHub's claim names).
	Templates func(context.Context) (map[string][]string, error)
	Analyzer  *Analyzer
	Log       *slog.Logger
	// Progress counts principals read per account.
	Progress scanners.Progress
}

// Name implements scanners.Scanner.
func (s *Scanner) Name() string { return "iam" }

// Scan reads each account's graph and compares it with the declarations.
// Each account is one source; one that can't be read makes the run partial
// and keeps its previous findings as they were. A part of an account that
// can't be read (SCPs, secrets' policies) makes that account partial: what
// was found is stored, nothing is resolved.
func (s *Scanner) Scan(ctx context.Context, _ scanners.StateReader, emit func(scanners.Result)) error {
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if scanners.Finalizing(ctx) {
		return s.finalize(ctx, emit)
	}
	a := *s.Analyzer
	if a.Now.IsZero() {
		a.Now = time.Now()
	}
	// Who each account is, first: every account read is one of the
	// organisation's, which trust analysis needs before any graph.
	ids := make([]string, len(s.Accounts))
	idErr := make([]error, len(s.Accounts))
	for i, acct := range s.Accounts {
		out, err := sts.NewFromConfig(acct.Config).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			idErr[i] = fmt.Errorf("iam %s: who am I (sts:GetCallerIdentity): %w", acct.Name, err)
			continue
		}
		ids[i] = aws.ToString(out.Account)
		a.Known = append(a.Known, ids[i])
	}
	var org OrgAPI
	var mgmt string
	var orgErr error
	orgNote := "SCPs not evaluated: no aws.organization account configured"
	if s.Org != nil {
		org = organizations.NewFromConfig(s.Org.Config)
		mgmt, orgErr = Management(ctx, org)
		members, err := OrgAccounts(ctx, org)
		if err != nil {
			// Not fatal: without the list, an organisation's account is
			// reported as a third party, which errs on the safe side.
			s.Log.Warn("iam: can't list the organisation's accounts", "account", s.Org.Name, "err", err)
		}
		a.Known = append(a.Known, members...)
		orgNote = ""
	}
	var notes []string
	if len(s.SecretRegions) == 0 {
		notes = append(notes, "secrets' resource policies not read: no inventory.awssm")
	}
	if orgNote != "" {
		notes = append(notes, orgNote)
	}
	if s.Templates != nil {
		t, err := s.Templates(ctx)
		if err != nil {
			// Not partial: without a template, subjects are read by
			// GitHub's claim names and a missing ref is taken as "any".
			notes = append(notes, "some GitHub OIDC subject templates unread: "+err.Error())
		}
		a.Templates = t
	}
	var ci []CICredential
	var ciErr error
	if s.CI != nil {
		ci, ciErr = s.CI(ctx)
	}
	// A sharded run's shards read the accounts they own (its last step,
	// finalize, only what needs every account).
	shard := scanners.Sharded(ctx)
	var providers []string // every account's OIDC providers
	var unknown []error    // accounts whose OIDC providers could not be read
	for i, acct := range s.Accounts {
		src := scanners.Source{Scanner: "iam", Name: acct.Name}
		if shard && !scanners.Owns(ctx, src) {
			continue
		}
		res := scanners.Result{Source: src, Mode: scanners.Full, Note: strings.Join(notes, "; ")}
		if idErr[i] != nil {
			res.Mode, res.Err = scanners.Partial, idErr[i]
			unknown = append(unknown, idErr[i])
			emit(res)
			continue
		}
		start := time.Now()
		client := iam.NewFromConfig(acct.Config)
		g, err := Fetch(ctx, client, ids[i])
		if err != nil {
			res.Mode, res.Err = scanners.Partial, fmt.Errorf("iam %s (account %s): %w", acct.Name, ids[i], err)
			unknown = append(unknown, res.Err)
			emit(res)
			continue
		}
		var partial []error
		if org != nil {
			err := orgErr
			if err == nil {
				g.SCPs, err = FetchSCPs(ctx, org, g.Account, mgmt)
			}
			if err != nil {
				partial = append(partial, fmt.Errorf("SCPs (read with account %s): %w", s.Org.Name, err))
			}
		}
		if g.OIDCProviders, err = OIDCProviders(ctx, client); err != nil {
			partial = append(partial, err)
			unknown = append(unknown, err)
		}
		providers = append(providers, g.OIDCProviders...)
		for _, region := range s.SecretRegions {
			c := acct.Config.Copy()
			c.Region = region
			sps, err := FetchSecretPolicies(ctx, secretsmanager.NewFromConfig(c), kms.NewFromConfig(c), region)
			g.Secrets = append(g.Secrets, sps...)
			if err != nil {
				partial = append(partial, err)
			}
		}
		scanners.ProgressOrNop(s.Progress).Items("principals read", int64(len(g.Principals)))
		res.Findings = a.Analyze(g)
		if ciErr != nil {
			partial = append(partial, fmt.Errorf("CI credentials: %w", ciErr))
		} else {
			res.Findings = append(res.Findings, a.CIKeys(g, ci)...)
		}
		if len(partial) > 0 {
			res.Mode, res.Err = scanners.Partial, fmt.Errorf("iam %s (account %s): %w", acct.Name, g.Account, errors.Join(partial...))
		}
		for i := range res.Findings {
			res.Findings[i].Source = res.Source.String()
			res.Findings[i].Evidence[finding.EvAccount] = g.Account
			res.Findings[i].Evidence[finding.EvAccountName] = acct.Name
		}
		s.Log.Debug("iam graph analysed", "account", g.Account, "principals", len(g.Principals), "api_calls", g.Calls,
			"scp_levels", len(g.SCPs), "secrets", len(g.Secrets), "findings", len(res.Findings), "took", time.Since(start))
		emit(res)
	}
	if s.CI != nil && !shard {
		emit(a.ciNames(ci, ciErr, providers, unknown))
	}
	return nil
}

// finalize is a sharded run's last step for IAM: the shards read the
// accounts; what is left needs all of them, whether any trusts a CI
// system's OIDC issuer, for the CI secrets known by name alone (iam:ci).
func (s *Scanner) finalize(ctx context.Context, emit func(scanners.Result)) error {
	if s.CI == nil {
		return nil
	}
	ci, ciErr := s.CI(ctx)
	var providers []string
	var unknown []error
	for _, acct := range s.Accounts {
		provs, err := OIDCProviders(ctx, iam.NewFromConfig(acct.Config))
		if err != nil {
			unknown = append(unknown, fmt.Errorf("iam %s: %w", acct.Name, err))
			continue
		}
		providers = append(providers, provs...)
	}
	emit(s.Analyzer.ciNames(ci, ciErr, providers, unknown))
	return nil
}

// ciNames is the iam:ci result: the CI secrets known by name alone,
// reported when some account trusts their CI system's OIDC issuer. An
// account that could not be read might trust one no other does: then the
// result is partial and what was found stays as it was.
func (a *Analyzer) ciNames(ci []CICredential, ciErr error, providers []string, unknown []error) scanners.Result {
	res := scanners.Result{Source: scanners.Source{Scanner: "iam", Name: "ci"}, Mode: scanners.Full}
	if ciErr != nil {
		res.Mode, res.Err = scanners.Partial, fmt.Errorf("iam ci: CI credentials: %w", ciErr)
		return res
	}
	res.Findings = a.CINames(ci, providers)
	if len(unknown) > 0 && namesUndecided(ci, providers) {
		res.Mode, res.Err = scanners.Partial, fmt.Errorf("iam ci: whether an account trusts a CI system's OIDC issuer is unknown: %w", errors.Join(unknown...))
	}
	for i := range res.Findings {
		res.Findings[i].Source = res.Source.String()
	}
	return res
}

// OIDCProviders lists the account's OpenID Connect provider ARNs.
func OIDCProviders(ctx context.Context, api interface {
	ListOpenIDConnectProviders(context.Context, *iam.ListOpenIDConnectProvidersInput, ...func(*iam.Options)) (*iam.ListOpenIDConnectProvidersOutput, error)
}) ([]string, error) {
	out, err := api.ListOpenIDConnectProviders(ctx, &iam.ListOpenIDConnectProvidersInput{})
	if err != nil {
		return nil, fmt.Errorf("ListOpenIDConnectProviders: %w", err)
	}
	var arns []string
	for _, p := range out.OpenIDConnectProviderList {
		arns = append(arns, aws.ToString(p.Arn))
	}
	return arns, nil
}
