package iam

import (
	"context"
	"log/slog"

	"github.com/vigilsec/vigil/internal/awsconf"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/rules"
)

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
	accts, err := awsconf.Accounts(ctx, cfg.AWS, "", "vigil-iam-drift")
	if err != nil {
		return nil, err
	}
	s := &Scanner{Analyzer: &Analyzer{Identities: ids, Controls: controls, Ignore: cfg.AWS.IgnorePrincipals}, Log: log}
	for _, a := range accts {
		s.Accounts = append(s.Accounts, Account{Name: a.Name, Config: a.Config})
	}
	return s, nil
}
