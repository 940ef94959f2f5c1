package synthetic

import (
	"context"
	"errors"
	"time"

	"github.com/vigilsec/vigil/internal/ledger"
	"github.com/vigilsec/vigil/rules"
)

// Probe outcomes. Only a refusal by the service's authorisation (HTTP 403,
// AccessDenied) counts as denied and only a successful call as allowed;
// anything else (not found, throttled, a network error) proves nothing and
// is inconclusive, never a pass.
const (
	Allowed      = "allowed"
	Denied       = "denied"
	Inconclusive = "inconclusive"
	// Unverifiable is Verify's answer when the credential knows no call
	// that revocation should stop (on AWS: no probe was allowed).
	Unverifiable = "unverifiable"
)

// Outcome is what one call showed.
type Outcome struct {
	Result string
	// Err explains an inconclusive or denied call. It comes from the
	// service's error, which names actions and resources, never values.
	Err string
}

// Issuer mints short-lived credentials for one kind of identity and revokes
// them. Revoke and Cleanup work from the ledger row alone, so a credential
// left by a crashed run is revoked by the next one.
type Issuer interface {
	// Key names the issuer in the ledger: "aws:<account>" or "vault:<store>".
	Key() string
	// Issue mints a credential for id, scoped to its probes and living
	// about ttl. It fills rec's target, scope and expiry and calls save
	// before asking for the credential (the ledger's intent row), then fills
	// the credential id and times.
	Issue(ctx context.Context, id *rules.Identity, rec *ledger.Credential, ttl time.Duration, save func() error) (Credential, error)
	// Revoke revokes what rec describes and records how in rec.Revocation.
	Revoke(ctx context.Context, rec *ledger.Credential) error
	// Cleanup removes what revocation left behind once that is safe (now is
	// after the credential's expiry); done reports nothing is left.
	Cleanup(ctx context.Context, rec *ledger.Credential, now time.Time) (done bool, err error)
}

// Credential is a live credential. It exists only in memory; the ledger has
// its public id.
type Credential interface {
	// Probe makes the probe's call with this credential.
	Probe(ctx context.Context, p rules.Probe) Outcome
	// Verify makes a call that fails once the credential is revoked,
	// retrying for up to wait where revocation takes time to propagate.
	// allowed are the probes that succeeded, for issuers that need a call
	// known to work. Allowed means the credential still works.
	Verify(ctx context.Context, allowed []rules.Probe, wait time.Duration) Outcome
}

// ErrRefused wraps an issuer's refusal to mint a credential (a 4xx answer):
// nothing was created, so there is nothing to revoke.
var ErrRefused = errors.New("refused")

// truncate keeps service error texts short in findings and the ledger.
func truncate(s string) string {
	const max = 300
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
