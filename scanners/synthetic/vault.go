package synthetic

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/vigilsec/vigil/internal/ledger"
	"github.com/vigilsec/vigil/rules"
)

// VaultIssuer mints child tokens of vigil's own token carrying a job's
// policies, with a short ttl and a use count bounded by the probes, and
// revokes them by accessor. vigil's token must be allowed to create tokens
// with those policies: hold them itself, or have sudo on auth/token/create.
type VaultIssuer struct {
	Store  string
	Client *api.Client
}

// Key implements Issuer.
func (v *VaultIssuer) Key() string { return "vault:" + v.Store }

// Vault probe actions. read and list never change anything; write is
// allowed only on a declared canary path and writes a marker, not data.
const (
	vaultRead  = "read"
	vaultList  = "list"
	vaultWrite = "write"
)

// validateVault checks a probe of a Vault identity.
func validateVault(id *rules.Identity, p rules.Probe) error {
	switch p.Action {
	case vaultRead, vaultList:
	case vaultWrite:
		if !id.Probes.IsCanary(p.Target) {
			return fmt.Errorf("probe %q: write probes are allowed only on a path listed in probes.canary", p)
		}
	default:
		return fmt.Errorf("probe %q: a Vault probe is read, list or write (on a canary path), not %q", p, p.Action)
	}
	if p.Target == "" {
		return fmt.Errorf("probe %q: needs a path", p)
	}
	return nil
}

// Issue implements Issuer.
func (v *VaultIssuer) Issue(ctx context.Context, id *rules.Identity, rec *ledger.Credential, ttl time.Duration, save func() error) (Credential, error) {
	ttl = max(ttl, time.Minute).Round(time.Second)
	// One use per probe, one for the revocation check; a token whose uses
	// ran out would look revoked when it was not.
	uses := len(id.Probes.All()) + 1
	meta := map[string]string{"vigil_run": rec.RunID, "vigil_ledger": rec.ID, "identity": id.Name}
	rec.Target = v.Client.Address()
	rec.ExpiresAt = time.Now().Add(ttl)
	rec.Scope = map[string]any{"policies": id.Policies, "ttl": ttl.String(), "num_uses": uses, "meta": meta}
	if err := save(); err != nil {
		return nil, err
	}
	no := false
	s, err := v.Client.Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{
		Policies: id.Policies, Metadata: meta, TTL: ttl.String(), ExplicitMaxTTL: ttl.String(),
		NumUses: uses, Renewable: &no, DisplayName: "vigil-synthetic-" + id.Name,
	})
	if err != nil {
		var re *api.ResponseError
		if errors.As(err, &re) && re.StatusCode >= 400 && re.StatusCode < 500 && re.StatusCode != http.StatusTooManyRequests {
			return nil, fmt.Errorf("%w: create token for %s: %v", ErrRefused, id.Name, err)
		}
		return nil, fmt.Errorf("create token for %s: %w", id.Name, err)
	}
	if s == nil || s.Auth == nil {
		return nil, fmt.Errorf("create token for %s: no token in the answer", id.Name)
	}
	rec.CredentialID = s.Auth.Accessor
	rec.IssuedAt = time.Now()
	rec.ExpiresAt = rec.IssuedAt.Add(time.Duration(s.Auth.LeaseDuration) * time.Second)
	c, err := v.Client.Clone()
	if err != nil {
		return nil, err
	}
	c.SetToken(s.Auth.ClientToken)
	c.SetMaxRetries(0) // a retried call would spend another of the token's uses
	return &vaultCredential{c: c, run: rec.RunID}, nil
}

type vaultCredential struct {
	c   *api.Client
	run string
}

func (c *vaultCredential) Probe(ctx context.Context, p rules.Probe) Outcome {
	var s *api.Secret
	var err error
	switch p.Action {
	case vaultRead:
		s, err = c.c.Logical().ReadWithContext(ctx, p.Target)
		if s != nil {
			s.Data = nil // proving access needs the call, not the value
		}
	case vaultList:
		s, err = c.c.Logical().ListWithContext(ctx, p.Target)
	case vaultWrite:
		data := map[string]any{"vigil_canary": c.run}
		if strings.Contains(p.Target, "/data/") {
			data = map[string]any{"data": data} // KV v2
		}
		s, err = c.c.Logical().WriteWithContext(ctx, p.Target, data)
		if err == nil {
			return Outcome{Result: Allowed}
		}
	}
	if err == nil && s == nil {
		// Vault checks the policy before looking: a 404 means the call was
		// authorised, but nothing there shows what the job actually gets.
		return Outcome{Result: Inconclusive, Err: "nothing at " + p.Target + ": declare a path that exists"}
	}
	return classifyVault(err)
}

// Verify asks the token about itself, once: Vault revokes synchronously,
// and every call spends one of the token's uses.
func (c *vaultCredential) Verify(ctx context.Context, _ []rules.Probe, _ time.Duration) Outcome {
	s, err := c.c.Auth().Token().LookupSelfWithContext(ctx)
	if err == nil && s != nil {
		return Outcome{Result: Allowed}
	}
	return classifyVault(err)
}

func classifyVault(err error) Outcome {
	if err == nil {
		return Outcome{Result: Allowed}
	}
	var re *api.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusForbidden {
		return Outcome{Result: Denied, Err: truncate(strings.Join(re.Errors, "; "))}
	}
	return Outcome{Result: Inconclusive, Err: truncate(err.Error())}
}

// Revoke implements Issuer: by accessor, which the ledger holds. A row left
// between the intent and the answer has no accessor; the token is then found
// by the ledger id vigil put in its metadata.
func (v *VaultIssuer) Revoke(ctx context.Context, rec *ledger.Credential) error {
	tok := v.Client.Auth().Token()
	accessors := []string{rec.CredentialID}
	method := "revoke-accessor"
	if rec.CredentialID == "" {
		found, err := v.findByLedger(ctx, rec.ID)
		if err != nil {
			return err
		}
		accessors, method = found, "revoke-accessor (found by metadata vigil_ledger)"
	}
	for _, acc := range accessors {
		if err := tok.RevokeAccessorWithContext(ctx, acc); err != nil && !gone(err) {
			return fmt.Errorf("revoke token %s of %s (auth/token/revoke-accessor): %w", acc, rec.Identity, err)
		}
	}
	rec.Revocation = map[string]any{"method": method, "accessors": len(accessors)}
	return nil
}

// gone reports an error saying the token no longer exists (expired or
// already revoked): what revocation wanted.
func gone(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusBadRequest && strings.Contains(strings.Join(re.Errors, " "), "invalid accessor")
}

func (v *VaultIssuer) findByLedger(ctx context.Context, ledgerID string) ([]string, error) {
	s, err := v.Client.Logical().ListWithContext(ctx, "auth/token/accessors")
	if err != nil {
		return nil, fmt.Errorf("find the token of ledger row %s (list auth/token/accessors): %w", ledgerID, err)
	}
	var out []string
	if s == nil {
		return nil, nil
	}
	keys, _ := s.Data["keys"].([]any)
	for _, k := range keys {
		acc, _ := k.(string)
		l, err := v.Client.Auth().Token().LookupAccessorWithContext(ctx, acc)
		if err != nil || l == nil {
			continue // expired between the list and the lookup
		}
		if meta, ok := l.Data["meta"].(map[string]any); ok && meta["vigil_ledger"] == ledgerID {
			out = append(out, acc)
		}
	}
	return out, nil
}

// Cleanup implements Issuer: a revoked token leaves nothing behind.
func (v *VaultIssuer) Cleanup(context.Context, *ledger.Credential, time.Time) (bool, error) {
	return true, nil
}
