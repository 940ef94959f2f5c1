package reports

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/ledger"
	"github.com/vigilsec/vigil/internal/store"
)

// The evidence sheets: the credential ledger, audited remediation, runs.

func (w *workbook) ledger(creds []ledger.Credential) error {
	cols := []column{{"Ledger ID", 20}, {"Identity", 20}, {"Issuer", 14}, {"Credential ID", 20}, {"Status", 9}, {"Issued", 16},
		{"Expires", 16}, {"Revoked", 16}, {"Cleaned up", 16}, {"Revocation verified", 10}, {"Allowed", 8}, {"Denied", 8},
		{"Inconclusive", 10}, {"Probes", 36}, {"Run", 20}}
	_, err := w.table("Synthetic checks", cols, nil, func(add func(...any) error) error {
		for _, c := range creds {
			n := map[string]int{}
			var probes []string
			for _, p := range c.Probes {
				n[p.Outcome]++
				probes = append(probes, fmt.Sprintf("%s (expect %s): %s", p.Probe, p.Expect, p.Outcome))
			}
			verified := ""
			if v, ok := c.Revocation["verified"].(bool); ok {
				verified = fmt.Sprint(v)
			}
			if err := add(c.ID, c.Identity, c.Issuer, c.CredentialID, c.Status, c.IssuedAt, c.ExpiresAt, c.RevokedAt, c.CleanedAt,
				verified, n["allowed"], n["denied"], n["inconclusive"], strings.Join(probes, "; "), c.RunID); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// remediation lists the month's audited changes: remediation actions,
// suppressions and credential lifecycle, each with its audit-chain hashes
// as evidence that the record was not altered.
func (w *workbook) remediation(audit []store.AuditEntry, from, to time.Time) error {
	cols := []column{{"Seq", 6}, {"At", 16}, {"Actor", 20}, {"Action", 20}, {"Subject", 26}, {"Detail", 40}, {"Previous hash", 22}, {"Hash", 22}}
	_, err := w.table("Remediation", cols, nil, func(add func(...any) error) error {
		for _, e := range audit {
			at, _ := time.Parse(time.RFC3339Nano, e.At)
			if at.Before(from) || !at.Before(to) {
				continue
			}
			if !strings.HasPrefix(e.Action, "remediate.") && !strings.HasPrefix(e.Action, "finding.") && !strings.HasPrefix(e.Action, "credential.") {
				continue
			}
			if err := add(e.Seq, at, e.Actor, e.Action, e.Subject, e.Detail, e.PrevHash, e.Hash); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

func (w *workbook) runs(runs []store.Run) error {
	cols := []column{{"Run", 28}, {"Command", 18}, {"Started", 18}, {"Finished", 18}, {"Status", 10}, {"New", 8}, {"Resolved", 10}, {"Failed sources", 14}}
	_, err := w.table("Runs", cols, nil, func(add func(...any) error) error {
		for _, r := range runs {
			num := func(k string) any {
				if v, ok := r.Summary[k]; ok {
					return v
				}
				return nil
			}
			if err := add(r.ID, r.Command, r.StartedAt, r.FinishedAt, r.Status, num("new"), num("resolved"), num("errors")); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}
