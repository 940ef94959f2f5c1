package stores

import (
	"context"

	"github.com/openbao/openbao/api/v2"

	"github.com/vigilsec/vigil/internal/awsconf"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/rules"
)

// Opener opens the stores of one kind that a configuration declares (none:
// nil). Each store package has one; stores/all lists them.
type Opener func(ctx context.Context, d Deps) ([]Store, error)

// Deps is what opening a store may ask of the command's environment.
// internal/wiring provides it, so a Vault login or an AWS account set is
// made once per command whoever asks for it.
type Deps interface {
	// Config is the loaded vigil.yaml: a store reads its own section of
	// inventory: (and its relative paths against Config().Dir).
	Config() *config.Config
	// Hasher hashes values, or is nil when inventory.hash_values is off.
	Hasher() Hasher
	// Vault returns the logged-in client of an inventory.vault entry.
	Vault(ctx context.Context, v config.VaultStore) (*api.Client, error)
	// AWSAccounts returns the aws: accounts to list in region, with the
	// audit role.
	AWSAccounts(ctx context.Context, region string) ([]awsconf.Account, error)
	// Detector scans a plaintext value with the leak rules (GitHub Actions
	// variables): loaded when first asked for.
	Detector() (TextDetector, error)
	Controls() rules.Controls
	// GitDir is the git directory of the sources.git repository name: its
	// path, or the leaks scanner's mirror of its URL.
	GitDir(name string) (string, error)
}

// TextDetector finds secrets in a value that is neither a file nor a
// commit; it reports each by rule, redaction and keyed hash.
type TextDetector interface {
	DetectText(ctx context.Context, label, text string) []TextSecret
}

// TextSecret is a secret found in a value: never the value itself.
type TextSecret = finding.TextSecret

// Failed stands for a store that could not even be opened (a Vault login
// refused), so that the run reports it like any other failing store and no
// declared secret it covers is called missing.
func Failed(name string, covers []string, err error) Store { return failed{name, covers, err} }

type failed struct {
	name   string
	covers []string
	err    error
}

func (f failed) Name() string                             { return f.name }
func (f failed) Covers() []string                         { return f.covers }
func (f failed) List(context.Context, func(Secret)) error { return f.err }
