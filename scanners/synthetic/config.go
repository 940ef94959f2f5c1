package synthetic

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vigilsec/vigil/internal/ledger"
	"github.com/vigilsec/vigil/rules"
)

// Validate checks an identity's probes against what vigil can call and what
// the config provides: the Vault stores configured (inventory.vault names)
// and whether there are AWS credentials. Every error names the file and line.
func Validate(id *rules.Identity, vaultStores, clusters []string, haveAWS bool) []error {
	var errs []error
	bad := func(line int, format string, a ...any) {
		errs = append(errs, &rules.FileError{File: id.File, Line: line, Msg: fmt.Sprintf("identity %q: ", id.Name) + fmt.Sprintf(format, a...)})
	}
	switch id.Kind {
	case rules.KindVault:
		if !slices.Contains(vaultStores, id.Vault) {
			bad(id.Line, "vault store %q is not configured (inventory.vault[].name)", id.Vault)
		}
	case rules.KindKubernetes:
		if !slices.Contains(clusters, id.Cluster) {
			bad(id.Line, "cluster %q is not configured (inventory.kubernetes[].name)", id.Cluster)
		}
	default:
		if !haveAWS {
			bad(id.Probes.Line, "probes need AWS credentials, but vigil.yaml has no aws: section")
		}
	}
	for _, p := range id.Probes.All() {
		var err error
		switch id.Kind {
		case rules.KindVault:
			err = validateVault(id, p)
		case rules.KindKubernetes:
			err = validateKubernetes(p)
		default:
			err = validateAWS(p)
		}
		if err != nil {
			bad(p.Line, "%v", err)
		}
	}
	return errs
}

// FailedIssuer stands for a store vigil could not log in to: every
// credential asked of it fails with err, so its identities fail and the
// others are still checked.
func FailedIssuer(key string, err error) Issuer { return failedIssuer{key: key, err: err} }

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
