package remediate

import (
	"context"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/scanners"
	"github.com/vigilsec/vigil/scanners/synthetic"
)

// SyntheticProber verifies a narrowing with the identity's own synthetic
// check: a fresh short-lived credential for the narrowed principal runs the
// declared probes, recorded in the credential ledger like a nightly check's.
func SyntheticProber(syn *synthetic.Scanner) Prober {
	return func(ctx context.Context, name string) ([]string, error) {
		for i := range syn.Identities {
			id := &syn.Identities[i]
			if id.Name != name {
				continue
			}
			if scanners.RunID(ctx) == "" {
				ctx = scanners.WithRunID(ctx, "remediate")
			}
			res := syn.Check(ctx, id)
			var denied []string
			for _, f := range res.Findings {
				if f.Kind == finding.KindSynAllowedDenied {
					denied = append(denied, f.Title)
				}
			}
			if len(denied) == 0 && res.Err != nil {
				return nil, res.Err
			}
			return denied, nil
		}
		return nil, nil // no probes declared: nothing more to verify with
	}
}
