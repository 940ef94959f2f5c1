// Package synthetic proves least privilege with real calls. For each
// declared job identity with probes it mints a credential of its own (an STS
// session, a Vault token) with the narrowest scope and shortest life the
// check needs, makes the expected-allow and expected-deny calls, revokes the
// credential and checks that it no longer works. Every credential is in the
// ledger (internal/store) from before it is asked for until it is revoked and
// cleaned up, so a crashed run's credentials are revoked by the next run.
package synthetic

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/ledger"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners"
)

// Ledger is where credentials are recorded (the store).
type Ledger interface {
	SaveCredential(ctx context.Context, c *ledger.Credential) error
	Credentials(ctx context.Context, f ledger.Filter) ([]ledger.Credential, error)
}

// Scanner runs the synthetic checks.
type Scanner struct {
	// Identities are the declared identities that have probes.
	Identities []rules.Identity
	// Progress counts identities checked (each takes seconds: mint, probe,
	// revoke, verify).
	Progress scanners.Progress
	// Issuers by key (Issuer.Key).
	Issuers  map[string]Issuer
	Ledger   Ledger
	Controls rules.Controls
	// Margin is added to a check's expected length for the credential's
	// life (default 5 minutes).
	Margin time.Duration
	// RevokeWait bounds how long a revoked credential may keep working
	// (IAM changes take seconds to reach every region); default 60s.
	RevokeWait time.Duration
	// Workers checks this many identities at once (default 4).
	Workers int
	Now     func() time.Time
	Log     *slog.Logger

	accountIDs map[string]string // AWS account id -> issuer key
}

// Name implements scanners.Scanner.
func (s *Scanner) Name() string { return "synthetic" }

func (s *Scanner) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func (s *Scanner) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Scan first finishes what earlier runs left in the ledger (revokes
// credentials a crash left live, removes expired revocations), then checks
// each identity. Each identity is one source.
func (s *Scanner) Scan(ctx context.Context, _ scanners.StateReader, emit func(scanners.Result)) error {
	res := scanners.Result{Source: scanners.Source{Scanner: "synthetic", Name: "ledger"}, Mode: scanners.Full}
	if err := s.Recover(ctx); err != nil {
		res.Mode, res.Err = scanners.Partial, err
	}
	emit(res)

	workers := s.Workers
	if workers <= 0 {
		workers = 4
	}
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for i := range s.Identities {
		id := &s.Identities[i]
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			emit(s.Check(ctx, id))
			scanners.ProgressOrNop(s.Progress).Items("identities checked", 1)
		}()
	}
	wg.Wait()
	return nil
}

// Recover revokes every credential the ledger says may still be live and
// cleans up revocations whose credential has expired.
func (s *Scanner) Recover(ctx context.Context) error {
	rows, err := s.Ledger.Credentials(ctx, ledger.Filter{Open: true})
	if err != nil {
		return fmt.Errorf("read the credential ledger: %w", err)
	}
	var errs []error
	for i := range rows {
		rec := &rows[i]
		iss := s.Issuers[rec.Issuer]
		if iss == nil {
			errs = append(errs, fmt.Errorf("ledger %s (%s): issuer %s is not configured, so it can't be revoked or cleaned up", rec.ID, rec.Identity, rec.Issuer))
			continue
		}
		if rec.Status == ledger.Issuing || rec.Status == ledger.Issued {
			s.log().Warn("revoking a credential an earlier run left live", "ledger", rec.ID, "identity", rec.Identity, "run", rec.RunID)
			if err := s.revoke(ctx, iss, rec); err != nil {
				errs = append(errs, err)
				continue
			}
			rec.Revocation["recovered"] = true
			if err := s.Ledger.SaveCredential(ctx, rec); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if err := s.cleanup(ctx, iss, rec); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Scanner) revoke(ctx context.Context, iss Issuer, rec *ledger.Credential) error {
	if err := iss.Revoke(ctx, rec); err != nil {
		return fmt.Errorf("ledger %s (%s): %w", rec.ID, rec.Identity, err)
	}
	if rec.Revocation == nil {
		rec.Revocation = map[string]any{}
	}
	rec.Status, rec.RevokedAt = ledger.Revoked, s.now()
	return s.Ledger.SaveCredential(ctx, rec)
}

func (s *Scanner) cleanup(ctx context.Context, iss Issuer, rec *ledger.Credential) error {
	done, err := iss.Cleanup(ctx, rec, s.now())
	if err != nil {
		return fmt.Errorf("ledger %s (%s): %w", rec.ID, rec.Identity, err)
	}
	if !done {
		return nil
	}
	rec.Status, rec.CleanedAt = ledger.Cleaned, s.now()
	return s.Ledger.SaveCredential(ctx, rec)
}

// IssuerFor returns the issuer of an identity: its Vault store, or the AWS
// account its ARN or account id names (the only account when it names none).
func (s *Scanner) IssuerFor(ctx context.Context, id *rules.Identity) (Issuer, error) {
	if id.Kind == rules.KindVault {
		if iss := s.Issuers["vault:"+id.Vault]; iss != nil {
			return iss, nil
		}
		return nil, fmt.Errorf("identity %s: vault store %q is not configured (inventory.vault)", id.Name, id.Vault)
	}
	if id.Kind == rules.KindKubernetes {
		if iss := s.Issuers["kubernetes:"+id.Cluster]; iss != nil {
			return iss, nil
		}
		return nil, fmt.Errorf("identity %s: cluster %q is not configured (inventory.kubernetes)", id.Name, id.Cluster)
	}
	var aws []Issuer
	for key, iss := range s.Issuers {
		if strings.HasPrefix(key, "aws:") {
			aws = append(aws, iss)
		}
	}
	if len(aws) == 0 {
		return nil, fmt.Errorf("identity %s: no AWS account is configured (aws:)", id.Name)
	}
	want := id.Account
	if id.ARN != "" {
		if f := strings.Split(id.ARN, ":"); len(f) > 4 {
			want = f[4]
		}
	}
	if want == "" {
		if len(aws) == 1 {
			return aws[0], nil
		}
		return nil, fmt.Errorf("identity %s: several AWS accounts are configured; give the identity an arn or account", id.Name)
	}
	var errs []error
	for _, iss := range aws {
		if iss.Key() == "aws:"+want {
			return iss, nil
		}
		a, ok := iss.(interface {
			AccountID(context.Context) (string, error)
		})
		if !ok {
			continue
		}
		acct, err := a.AccountID(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if acct == want {
			return iss, nil
		}
	}
	return nil, errors.Join(append([]error{fmt.Errorf("identity %s: account %s is not among the configured aws.accounts", id.Name, want)}, errs...)...)
}

// ttl is how long the credential should live: the declared (or estimated)
// length of the check, the time allowed for revocation to take, and a margin.
func (s *Scanner) ttl(id *rules.Identity) time.Duration {
	margin := s.Margin
	if margin <= 0 {
		margin = 5 * time.Minute
	}
	expected := id.Probes.Duration
	if expected == 0 {
		expected = time.Duration(len(id.Probes.All()))*5*time.Second + s.revokeWait()
	}
	return expected + margin
}

func (s *Scanner) revokeWait() time.Duration {
	if s.RevokeWait > 0 {
		return s.RevokeWait
	}
	return 60 * time.Second
}

func newLedgerID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Check runs one identity's synthetic check: issue, probe, revoke, verify,
// clean up. The credential is revoked whatever happens after it was issued,
// even when ctx is cancelled.
func (s *Scanner) Check(ctx context.Context, id *rules.Identity) scanners.Result {
	res := s.check(ctx, id)
	for i := range res.Findings {
		res.Findings[i].Source = res.Source.String()
	}
	return res
}

func (s *Scanner) check(ctx context.Context, id *rules.Identity) scanners.Result {
	res := scanners.Result{Source: scanners.Source{Scanner: "synthetic", Name: id.Name}, Mode: scanners.Full}
	fail := func(err error) scanners.Result {
		res.Mode, res.Err = scanners.Partial, err
		return res
	}
	iss, err := s.IssuerFor(ctx, id)
	if err != nil {
		return fail(err)
	}
	rec := &ledger.Credential{ID: newLedgerID(), RunID: scanners.RunID(ctx), Issuer: iss.Key(), Identity: id.Name, Status: ledger.Issuing}
	saved := false
	cred, err := iss.Issue(ctx, id, rec, s.ttl(id), func() error {
		saved = true
		return s.Ledger.SaveCredential(ctx, rec)
	})
	// From here on, revocation must happen even if the run is cancelled.
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute+s.revokeWait())
	defer cancel()
	if err != nil {
		err = fmt.Errorf("identity %s: %w", id.Name, err)
		if saved {
			if errors.Is(err, ErrRefused) {
				rec.Status = ledger.NotIssued
				err = errors.Join(err, s.Ledger.SaveCredential(bg, rec))
			} else if rerr := s.revoke(bg, iss, rec); rerr != nil {
				// Left as "issuing": the next run revokes it.
				err = errors.Join(err, rerr)
			}
		}
		return fail(err)
	}
	rec.Status = ledger.Issued
	if err := s.Ledger.SaveCredential(bg, rec); err != nil {
		return fail(errors.Join(fmt.Errorf("identity %s: record credential: %w", id.Name, err), s.revoke(bg, iss, rec)))
	}

	var allowed []rules.Probe
	var inconclusive []error
	for _, p := range id.Probes.All() {
		out := Outcome{Result: Inconclusive, Err: "not run: " + fmt.Sprint(ctx.Err())}
		if ctx.Err() == nil {
			out = cred.Probe(ctx, p)
		}
		rec.Probes = append(rec.Probes, ledger.ProbeRecord{Probe: p.String(), Expect: p.Expect, Outcome: out.Result, Error: out.Err, At: s.now()})
		switch {
		case out.Result == Inconclusive:
			inconclusive = append(inconclusive, fmt.Errorf("identity %s: probe %q (expected %s) is inconclusive: %s", id.Name, p, p.Expect, out.Err))
		case out.Result == Allowed:
			allowed = append(allowed, p)
			if p.Expect == rules.ExpectDeny {
				res.Findings = append(res.Findings, s.probeFinding(finding.KindSynDeniedAllowed, finding.High, id, rec, p, out,
					fmt.Sprintf("%s can %s, which it must not", id.Name, p),
					"A call declared as forbidden for this identity succeeded with a credential carrying only the identity's own permissions: least privilege is violated. Narrow the grants (see iam.excess_grant findings) and re-run."))
			}
		case out.Result == Denied && p.Expect == rules.ExpectAllow:
			res.Findings = append(res.Findings, s.probeFinding(finding.KindSynAllowedDenied, finding.Medium, id, rec, p, out,
				fmt.Sprintf("%s can't %s: the job would break", id.Name, p),
				"A call the job is declared to need was denied. Either the grant is missing (see iam.missing_grant) or the declaration is stale."))
		}
	}
	if err := s.Ledger.SaveCredential(bg, rec); err != nil {
		inconclusive = append(inconclusive, err)
	}

	if err := s.revoke(bg, iss, rec); err != nil {
		return fail(errors.Join(append(inconclusive, err)...))
	}
	if f, err := s.verifyRevoked(bg, id, rec, cred, allowed); err != nil {
		inconclusive = append(inconclusive, err)
	} else if f != nil {
		res.Findings = append(res.Findings, *f)
	}
	if err := s.Ledger.SaveCredential(bg, rec); err != nil {
		inconclusive = append(inconclusive, err)
	}
	if err := s.cleanup(bg, iss, rec); err != nil {
		inconclusive = append(inconclusive, err)
	}
	if len(inconclusive) > 0 {
		res.Mode, res.Err = scanners.Partial, errors.Join(inconclusive...)
	}
	return res
}

// verifyRevoked checks that the credential stopped working (within
// RevokeWait); still working is synthetic.not_revoked.
func (s *Scanner) verifyRevoked(ctx context.Context, id *rules.Identity, rec *ledger.Credential, cred Credential, allowed []rules.Probe) (*finding.Finding, error) {
	out := cred.Verify(ctx, allowed, s.revokeWait())
	rec.Revocation["verify"] = out.Result
	switch out.Result {
	case Denied:
		rec.Revocation["verified"] = true
		return nil, nil
	case Allowed:
		rec.Revocation["verified"] = false
		f := s.finding(finding.KindSynNotRevoked, finding.High, id, rec, nil,
			fmt.Sprintf("%s: vigil's credential still works after revocation", id.Name),
			fmt.Sprintf("The credential (%s, %s) was revoked and still worked %s later. A leaked credential of this identity could not be cut off this way: check the revocation permissions and the issuer.",
				rec.Issuer, rec.CredentialID, s.revokeWait()),
			map[string]any{"revocation": rec.Revocation})
		return &f, nil
	}
	rec.Revocation["verified"] = false
	rec.Revocation["verify_error"] = out.Err
	if out.Result == Unverifiable {
		// Nothing worked, so nothing can stop working: recorded, not an error.
		return nil, nil
	}
	return nil, fmt.Errorf("identity %s: revocation of %s could not be verified: %s", id.Name, rec.CredentialID, out.Err)
}

func (s *Scanner) probeFinding(kind finding.Kind, sev finding.Severity, id *rules.Identity, rec *ledger.Credential, p rules.Probe, out Outcome, title, detail string) finding.Finding {
	ev := map[string]any{"probe": p.String(), "expected": p.Expect, "outcome": out.Result}
	if out.Err != "" {
		ev["error"] = out.Err
	}
	return s.finding(kind, sev, id, rec, &p, title, detail, ev)
}

func (s *Scanner) finding(kind finding.Kind, sev finding.Severity, id *rules.Identity, rec *ledger.Credential, p *rules.Probe, title, detail string, ev map[string]any) finding.Finding {
	parts := []string{id.Name}
	line := id.Line
	if p != nil {
		parts = append(parts, strings.ToLower(p.Action), p.Target)
		line = p.Line
	}
	ev["identity"] = id.Name
	ev["issuer"] = rec.Issuer
	ev["ledger_id"] = rec.ID
	ev["credential_id"] = rec.CredentialID
	resource := rec.Target
	switch id.Kind {
	case rules.KindVault:
		resource = "vault:" + id.Vault + " policies=" + strings.Join(id.Policies, ",")
	case rules.KindKubernetes:
		resource = "kubernetes:" + id.Cluster + " serviceaccount " + id.Namespace + "/" + id.ServiceAccount
	}
	return finding.Finding{
		ID:       finding.Fingerprint(kind, parts...),
		Kind:     kind,
		Severity: sev,
		Scanner:  "synthetic",
		Resource: resource,
		Title:    title,
		Detail:   detail,
		Evidence: ev,
		Controls: s.Controls.For(kind),
		Location: &finding.Location{Path: id.File, Line: line},
	}
}
