package reports

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/vigilsec/vigil/internal/finding"
)

// Markdown writes a summary for people: a CI job summary or a chat message.
// It lists counts by severity and by what changed since the last run, then
// the open findings, most severe first, capped so a bad night stays readable.
func Markdown(w io.Writer, run Run, fs []finding.Finding) error {
	var b strings.Builder
	b.WriteString("# vigil summary\n\n")
	if run.ID != "" {
		fmt.Fprintf(&b, "Run `%s` (%s)", run.ID, run.Status)
		if !run.StartedAt.IsZero() {
			fmt.Fprintf(&b, ", started %s", run.StartedAt.UTC().Format("2006-01-02 15:04 MST"))
		}
		if run.Duration > 0 {
			fmt.Fprintf(&b, ", took %s", run.Duration.Round(1e6))
		}
		b.WriteString(".\n\n")
	}
	var open []finding.Finding
	bySev := map[finding.Severity]int{}
	trans := map[finding.Transition]int{}
	for _, f := range fs {
		if t, ok := run.Transitions[f.ID]; ok {
			trans[t]++
		}
		if f.Status == finding.StatusOpen {
			open = append(open, f)
			bySev[f.Severity]++
			if _, ok := run.Transitions[f.ID]; !ok {
				trans[finding.StillOpen]++
			}
		}
	}
	b.WriteString("| severity | open |\n|---|---:|\n")
	for _, s := range []finding.Severity{finding.Critical, finding.High, finding.Medium, finding.Low, finding.Info} {
		fmt.Fprintf(&b, "| %s | %d |\n", s, bySev[s])
	}
	if run.Transitions != nil {
		fmt.Fprintf(&b, "\nSince the last run: **%d new**, %d still open, %d resolved, %d regressed.\n",
			trans[finding.New], trans[finding.StillOpen], trans[finding.Resolved], trans[finding.Regressed])
	}
	if len(run.Errors) > 0 {
		b.WriteString("\n> **Partial run**: these sources failed; their previous findings are kept as they were.\n>\n")
		bySource(&b, "> - ", run.Errors)
	}
	if len(run.Notes) > 0 {
		b.WriteString("\n**Notes**\n\n")
		bySource(&b, "- ", run.Notes)
	}
	if len(open) > 0 {
		const limit = 50
		b.WriteString("\n## Open findings\n\n| severity | kind | where | what | since |\n|---|---|---|---|---|\n")
		for i, f := range open {
			if i == limit {
				fmt.Fprintf(&b, "\n…and %d more: see findings.json or `vigil findings list`.\n", len(open)-limit)
				break
			}
			mark := ""
			if t := run.Transitions[f.ID]; t == finding.New || t == finding.Regressed {
				mark = " **" + string(t) + "**"
			}
			fmt.Fprintf(&b, "| %s%s | %s | `%s` | %s | %s |\n", f.Severity, mark, f.Kind, cell(f.Resource), cell(f.Title), f.FirstSeen.UTC().Format("2006-01-02"))
		}
	} else {
		b.WriteString("\nNo open findings.\n")
	}
	if run.AuditHead != "" {
		fmt.Fprintf(&b, "\nAudit chain head: `%s` (keep it: `vigil audit verify --expect-head` proves the chain still holds it).\n", run.AuditHead)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// bySource writes one line per source, sorted: "<prefix>`source`: text".
func bySource(b *strings.Builder, prefix string, m map[string]string) {
	for _, s := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(b, "%s`%s`: %s\n", prefix, cell(s), oneLine(m[s]))
	}
}

// oneLine keeps a value on one Markdown line: newlines become spaces and
// other control characters (a hostile file name's escape sequences) are
// shown escaped, never passed to whoever renders or prints the summary.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = Printable(s)
	if len(s) > 300 {
		s = s[:297] + "..."
	}
	return s
}

func cell(s string) string { return strings.ReplaceAll(oneLine(s), "|", `\|`) }
