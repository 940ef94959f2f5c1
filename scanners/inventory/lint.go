package inventory

import (
	"context"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/scanners"
	"github.com/vigilsec/vigil/stores"
)

// Lint is the pull-request gate's config lint: the plaintext credentials a
// store reports (the files store: literal credentials where secret://
// references belong), without the declared-inventory comparison, which
// belongs to the nightly run.
type Lint struct {
	Store interface {
		stores.Store
		Reporter
	}
}

// Name implements scanners.Scanner.
func (l Lint) Name() string { return "lint" }

// Scan implements scanners.Scanner.
func (l Lint) Scan(ctx context.Context, _ scanners.StateReader, emit func(scanners.Result)) error {
	res := scanners.Result{Source: scanners.Source{Scanner: "lint", Name: "files"}, Mode: scanners.Full}
	if err := l.Store.List(ctx, func(stores.Secret) {}); err != nil {
		res.Mode, res.Err = scanners.Partial, err
	}
	res.Findings = append([]finding.Finding(nil), l.Store.Reported()...)
	for i := range res.Findings {
		res.Findings[i].Source = res.Source.String()
	}
	emit(res)
	return nil
}
