package reports

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/rules"
)

// The HTML report: one self-contained file a person reads in a browser, with
// no spreadsheet program and no network (its Content-Security-Policy lets
// it load nothing, so a finding's text can't make it call out either).

//go:embed html.tmpl
var htmlFS embed.FS

var htmlTmpl = template.Must(template.New("html.tmpl").Funcs(template.FuncMap{
	"date":     func(t time.Time) string { return dateOr(t, "2006-01-02") },
	"stamp":    func(t time.Time) string { return dateOr(t, "2006-01-02 15:04 MST") },
	"text":     Printable,
	"rank":     func(s finding.Severity) int { return s.Rank() },
	"dur":      func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	"evidence": evidenceList,
	"colour":   func(s finding.Severity) string { return sevColour[s] },
}).ParseFS(htmlFS, "html.tmpl"))

// htmlRowLimit caps the findings table: a browser stays usable, and
// findings.json has them all.
const htmlRowLimit = 5000

// HTMLInput is what the HTML report shows.
type HTMLInput struct {
	Run      Run
	Findings []finding.Finding // every stored finding, with its status
	Days     []store.DayCount  // open findings per day, for the trend
	Controls rules.Controls
	Now      time.Time
}

type htmlKind struct {
	Kind     finding.Kind
	Controls []string
	Findings []finding.Finding
	More     int
}

type htmlEvidence struct{ Key, Value string }

type htmlPage struct {
	Run                           Run
	Now                           time.Time
	Version                       string
	BySeverity                    []sevCount
	New, StillOpen, Resolved, Reg int
	HasTransitions                bool
	Errors, Notes                 []htmlEvidence
	Rows                          []finding.Finding
	Hidden                        int
	Total                         int
	Kinds                         []htmlKind
	Controls                      []controlState
	Trend                         *trendChart
}

type sevCount struct {
	Severity finding.Severity
	N        int
}

// HTML writes the report.
func HTML(w io.Writer, in HTMLInput) error {
	p := htmlPage{Run: in.Run, Now: in.Now, Version: Version, Total: len(in.Findings), HasTransitions: in.Run.Transitions != nil}
	bySev := map[finding.Severity]int{}
	open := map[string]map[finding.Severity]int{}
	byKind := map[finding.Kind][]finding.Finding{}
	rows := slices.Clone(in.Findings)
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if (a.Status == finding.StatusOpen) != (b.Status == finding.StatusOpen) {
			return a.Status == finding.StatusOpen
		}
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() > b.Severity.Rank()
		}
		return a.ID < b.ID
	})
	for _, f := range rows {
		if t, ok := in.Run.Transitions[f.ID]; ok {
			switch t {
			case finding.New:
				p.New++
			case finding.Resolved:
				p.Resolved++
			case finding.Regressed:
				p.Reg++
			}
		}
		if f.Status != finding.StatusOpen {
			continue
		}
		if _, ok := in.Run.Transitions[f.ID]; !ok {
			p.StillOpen++
		}
		bySev[f.Severity]++
		if open[string(f.Kind)] == nil {
			open[string(f.Kind)] = map[finding.Severity]int{}
		}
		open[string(f.Kind)][f.Severity]++
		byKind[f.Kind] = append(byKind[f.Kind], f)
	}
	for _, s := range severities {
		p.BySeverity = append(p.BySeverity, sevCount{s, bySev[s]})
	}
	if len(rows) > htmlRowLimit {
		p.Hidden, rows = len(rows)-htmlRowLimit, rows[:htmlRowLimit]
	}
	p.Rows = rows
	for _, k := range slices.Sorted(maps.Keys(byKind)) {
		fs := byKind[k]
		hk := htmlKind{Kind: k, Controls: in.Controls.For(k), Findings: fs}
		if len(fs) > 50 {
			hk.Findings, hk.More = fs[:50], len(fs)-50
		}
		p.Kinds = append(p.Kinds, hk)
	}
	for _, src := range slices.Sorted(maps.Keys(in.Run.Errors)) {
		p.Errors = append(p.Errors, htmlEvidence{src, in.Run.Errors[src]})
	}
	for _, src := range slices.Sorted(maps.Keys(in.Run.Notes)) {
		p.Notes = append(p.Notes, htmlEvidence{src, in.Run.Notes[src]})
	}
	p.Controls = controlStates(in.Controls, open, nil, nil)
	p.Trend = trend(in.Days)
	return htmlTmpl.Execute(w, p)
}

// evidenceList is a finding's evidence as sorted key/value pairs, printable.
func evidenceList(ev finding.Evidence) []htmlEvidence {
	var out []htmlEvidence
	for _, k := range slices.Sorted(maps.Keys(ev)) {
		v := ev[k]
		if v == nil || fmt.Sprint(v) == "" {
			continue
		}
		s := fmt.Sprint(v)
		if len(s) > 600 {
			s = s[:597] + "..."
		}
		out = append(out, htmlEvidence{k, Printable(s)})
	}
	return out
}

func dateOr(t time.Time, layout string) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(layout)
}

// trendChart is the inline SVG of open findings per day by severity.
type trendChart struct {
	Width, Height int
	Lines         []trendLine
	MaxY          int
	First, Last   string
	Grid          []trendTick
}

type trendLine struct {
	Severity finding.Severity
	Colour   string
	Points   string
}

type trendTick struct {
	Y     int
	Label string
}

var sevColour = map[finding.Severity]string{
	finding.Critical: "#7b0000", finding.High: "#d9534f", finding.Medium: "#e0a800", finding.Low: "#5b9bd5", finding.Info: "#999999",
}

func trend(days []store.DayCount) *trendChart {
	if len(days) == 0 {
		return nil
	}
	c := &trendChart{Width: 760, Height: 240, First: days[0].Day.Format("2006-01-02"), Last: days[len(days)-1].Day.Format("2006-01-02")}
	for _, d := range days {
		for _, n := range d.Open {
			c.MaxY = max(c.MaxY, n)
		}
	}
	c.MaxY = max(c.MaxY, 1)
	const left, top, bottom = 40, 10, 30
	plotW, plotH := c.Width-left-10, c.Height-top-bottom
	x := func(i int) int {
		if len(days) == 1 {
			return left + plotW/2
		}
		return left + i*plotW/(len(days)-1)
	}
	y := func(n int) int { return top + plotH - n*plotH/c.MaxY }
	for _, v := range []int{0, c.MaxY / 2, c.MaxY} {
		c.Grid = append(c.Grid, trendTick{y(v), fmt.Sprint(v)})
	}
	for _, s := range severities {
		var pts []string
		for i, d := range days {
			pts = append(pts, fmt.Sprintf("%d,%d", x(i), y(d.Open[s])))
		}
		c.Lines = append(c.Lines, trendLine{s, sevColour[s], strings.Join(pts, " ")})
	}
	return c
}
