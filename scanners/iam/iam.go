package iam

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/vigilsec/vigil/internal/awsconf"
	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/scanners"
)

// Scanner is the IAM drift scanner.
type Scanner struct {
	// Accounts are the accounts to read, each with credentials for it.
	Accounts []awsconf.Account
	Analyzer *Analyzer
	Log      *slog.Logger
}

// Name implements scanners.Scanner.
func (s *Scanner) Name() string { return "iam" }

// Scan reads each account's graph and compares it with the declarations.
// Each account is one source; one that can't be read makes the run partial
// and keeps its previous findings as they were.
func (s *Scanner) Scan(ctx context.Context, _ scanners.StateReader, emit func(scanners.Result)) error {
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	for _, acct := range s.Accounts {
		res := scanners.Result{Source: scanners.Source{Scanner: "iam", Name: acct.Name}, Mode: scanners.Full}
		start := time.Now()
		id, err := sts.NewFromConfig(acct.Config).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			res.Mode, res.Err = scanners.Partial, fmt.Errorf("iam %s: who am I (sts:GetCallerIdentity): %w", acct.Name, err)
			emit(res)
			continue
		}
		g, err := Fetch(ctx, iam.NewFromConfig(acct.Config), aws.ToString(id.Account))
		if err != nil {
			res.Mode, res.Err = scanners.Partial, fmt.Errorf("iam %s (account %s): %w", acct.Name, aws.ToString(id.Account), err)
			emit(res)
			continue
		}
		a := *s.Analyzer
		if a.Now.IsZero() {
			a.Now = time.Now()
		}
		res.Findings = a.Analyze(g)
		for i := range res.Findings {
			res.Findings[i].Source = res.Source.String()
			res.Findings[i].Evidence[finding.EvAccount] = g.Account
			res.Findings[i].Evidence[finding.EvAccountName] = acct.Name
		}
		s.Log.Debug("iam graph analysed", "account", g.Account, "principals", len(g.Principals), "api_calls", g.Calls,
			"findings", len(res.Findings), "took", time.Since(start))
		emit(res)
	}
	return nil
}
