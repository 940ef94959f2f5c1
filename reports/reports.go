// Package reports formats findings: JSON, SARIF 2.1.0, Markdown, the
// Prometheus textfile and the monthly workbook. Reports only format what
// they are given: the workbook reads the month's history through the
// MonthSource interface (the store satisfies it); no report calls a scanner.
package reports

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/parallel"
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
	// Notes: source -> why it was scanned as it was (a full rescan after
	// a rule change, a shallow clone).
	Notes map[string]string
	// AuditHead is the audit chain's head after the run ("seq:hash"), for
	// an external system to keep as the anchor `vigil audit verify
	// --expect-head` checks.
	AuditHead string
}

// JSON writes findings as one JSON array, the contract of
// `vigil findings list --format json`: a finding per line, which greps and
// diffs line by line (jq shows it indented). Indenting every field took
// longer than the rest of a nightly scan that found nothing new.
func JSON(w io.Writer, fs []finding.Finding) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("[")
	// Encoded on every core, a block at a time: a first scan prints
	// thousands of findings, and holding all of them encoded at once would
	// cost their size again.
	const block = 4096
	enc := make([][]byte, min(block, len(fs)))
	errs := make([]error, len(enc))
	for at := 0; at < len(fs); at += block {
		part := fs[at:min(at+block, len(fs))]
		parallel.Each(len(part), func(i int) { enc[i], errs[i] = json.Marshal(&part[i]) })
		for i := range part {
			if errs[i] != nil {
				return errs[i]
			}
			if at+i > 0 {
				bw.WriteString(",")
			}
			bw.WriteString("\n")
			bw.Write(enc[i])
		}
	}
	if len(fs) > 0 {
		bw.WriteString("\n")
	}
	bw.WriteString("]\n")
	return bw.Flush()
}

// Printable returns s with every control character (newlines, escape
// sequences, carriage returns) and invalid UTF-8 shown escaped, Go-style
// (\n, \x1b), so that a hostile file or branch name can neither add fake
// rows to a table nor drive the terminal it is printed on.
func Printable(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
