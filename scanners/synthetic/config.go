package synthetic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vigilsec/vigil/internal/awsconf"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/ledger"
	"github.com/vigilsec/vigil/internal/vaultconf"
	"github.com/vigilsec/vigil/rules"
)

// New builds the synthetic scanner for a vigil.yaml, or nil when no declared
// identity has probes and the ledger has nothing left to revoke. Probes are
// checked here, so a bad one fails the run up front with its file and line.
func New(ctx context.Context, cfg *config.Config, book Ledger, controls rules.Controls, log *slog.Logger) (*Scanner, error) {
	var ids []rules.Identity
	if cfg.Rules.Identities != "" {
		all, err := rules.LoadIdentities(cfg.Rules.Identities)
		if err != nil {
			return nil, err
		}
		for _, id := range all {
			if id.Probes != nil {
				ids = append(ids, id)
			}
		}
	}
	open, err := book.Credentials(ctx, ledger.Filter{Open: true})
	if err != nil {
		return nil, fmt.Errorf("read the credential ledger: %w", err)
	}
	if len(ids) == 0 && len(open) == 0 {
		return nil, nil
	}
	var errs []error
	for i := range ids {
		errs = append(errs, Validate(&ids[i], cfg)...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s := &Scanner{Identities: ids, Issuers: map[string]Issuer{}, Ledger: book, Controls: controls, Log: log}
	if sc := cfg.Synthetic; sc != nil {
		s.Margin, s.RevokeWait, s.Workers = sc.Margin, sc.RevokeWait, sc.Workers
	}
	if cfg.AWS != nil {
		accts, err := awsconf.Accounts(ctx, cfg.AWS, "", "vigil-synthetic")
		if err != nil {
			return nil, err
		}
		srcID := "vigil"
		if cfg.Synthetic != nil && cfg.Synthetic.SourceIdentity != "" {
			srcID = cfg.Synthetic.SourceIdentity
		}
		for _, a := range accts {
			iss := &AWSIssuer{Account: a.Name, Config: a.Config, SourceIdentity: srcID}
			s.Issuers[iss.Key()] = iss
		}
	}
	if cfg.Inventory != nil {
		for _, v := range cfg.Inventory.Vault {
			c, err := vaultconf.Login(ctx, v)
			if err != nil {
				// Its identities fail; the others are checked.
				s.Issuers["vault:"+v.Name] = failedIssuer{key: "vault:" + v.Name, err: err}
				continue
			}
			s.Issuers["vault:"+v.Name] = &VaultIssuer{Store: v.Name, Client: c}
		}
	}
	return s, nil
}

// Validate checks an identity's probes against what vigil can call and what
// the config provides. Every error names the file and line.
func Validate(id *rules.Identity, cfg *config.Config) []error {
	var errs []error
	bad := func(line int, format string, a ...any) {
		errs = append(errs, &rules.FileError{File: id.File, Line: line, Msg: fmt.Sprintf("identity %q: ", id.Name) + fmt.Sprintf(format, a...)})
	}
	switch id.Kind {
	case rules.KindVault:
		found := false
		if cfg.Inventory != nil {
			for _, v := range cfg.Inventory.Vault {
				found = found || v.Name == id.Vault
			}
		}
		if !found {
			bad(id.Line, "vault store %q is not configured (inventory.vault[].name)", id.Vault)
		}
	default:
		if cfg.AWS == nil {
			bad(id.Probes.Line, "probes need AWS credentials, but vigil.yaml has no aws: section")
		}
	}
	for _, p := range id.Probes.All() {
		var err error
		if id.Kind == rules.KindVault {
			err = validateVault(id, p)
		} else {
			err = validateAWS(p)
		}
		if err != nil {
			bad(p.Line, "%v", err)
		}
	}
	return errs
}

// failedIssuer stands for a store vigil could not log in to.
type failedIssuer struct {
	key string
	err error
}

func (f failedIssuer) Key() string { return f.key }
func (f failedIssuer) Issue(context.Context, *rules.Identity, *ledger.Credential, time.Duration, func() error) (Credential, error) {
	return nil, f.err
}
func (f failedIssuer) Revoke(context.Context, *ledger.Credential) error { return f.err }
func (f failedIssuer) Cleanup(context.Context, *ledger.Credential, time.Time) (bool, error) {
	return false, f.err
}
