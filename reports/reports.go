// Package reports formats findings: JSON, SARIF 2.1.0 and Markdown. Reports
// only format what they are given; they never query the store or a scanner.
package reports

import (
	"encoding/json"
	"io"
	"time"

	"github.com/vigilsec/vigil/internal/finding"
)

// Version is vigil's version, stamped into reports (set by main).
var Version = "dev"

// Run describes the run a report is about.
type Run struct {
	ID        string
	Status    string
	StartedAt time.Time
	Duration  time.Duration
	// Transitions: finding id -> what this run did to it (new, regressed,
	// resolved). Open findings absent from it were already open.
	Transitions map[string]finding.Transition
	// Errors: source -> error, for a partial run.
	Errors map[string]string
}

// JSON writes findings as one JSON array, the contract of
// `vigil findings list --format json`.
func JSON(w io.Writer, fs []finding.Finding) error {
	if fs == nil {
		fs = []finding.Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(fs)
}
