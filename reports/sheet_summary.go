package reports

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/rules"
)

// The summary, controls and daily sheets: counts, formulas and charts.

func (w *workbook) controls(ctl rules.Controls, openEnd []store.KindSeverityCount, newByKind map[string]int, openIDs map[string][]string,
	runs, creds int, auditState string) error {
	open := map[string]map[finding.Severity]int{}
	for _, c := range openEnd {
		if open[c.Kind] == nil {
			open[c.Kind] = map[finding.Severity]int{}
		}
		open[c.Kind][c.Severity] += c.N
	}
	cols := []column{{"Framework", 11}, {"Control", 12}, {"Title", 36}, {"Status", 9}, {"Open findings", 8}, {"Open high or critical", 9},
		{"New this month", 8}, {"Kinds", 30}, {"Open finding IDs (first 20 per kind)", 34}, {"Evidence", 36}}
	// Status colours: fail red, attention amber, pass green.
	var opts []excelize.ConditionalFormatOptions
	for _, s := range [][2]string{{"fail", "F4B6B6"}, {"attention", "FCE4A8"}, {"pass", "C6EFCE"}} {
		id, err := w.f.NewConditionalStyle(&excelize.Style{Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{s[1]}}})
		if err != nil {
			return err
		}
		opts = append(opts, excelize.ConditionalFormatOptions{Type: "cell", Criteria: "==", Value: `"` + s[0] + `"`, Format: &id})
	}
	_, err := w.table("Controls", cols, map[int][]excelize.ConditionalFormatOptions{4: opts}, func(add func(...any) error) error {
		for _, c := range controlStates(ctl, open, newByKind, openIDs) {
			ev := fmt.Sprintf("%d runs this month; %d synthetic credentials in the ledger; %s", runs, creds, auditState)
			if err := add(c.Framework, c.Name(), c.Title, c.Status, c.Open, c.OpenHigh, c.New, strings.Join(c.Kinds, ", "), strings.Join(c.IDs, ", "), ev); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// controlState is a reported control's status from the open findings of
// the kinds mapped to it: fail (a high or critical one open), attention
// (others open), pass, or no evidence (no kind maps to it).
type controlState struct {
	rules.Control
	Kinds               []string
	Open, OpenHigh, New int
	IDs                 []string
	Status              string
}

// Name is the control's id within its framework ("CC6.1").
func (c controlState) Name() string {
	_, name, _ := strings.Cut(c.ID, ":")
	return name
}

// controlStates gives every reported control's state; open counts open
// findings by kind and severity, newByKind and openIDs may be nil.
func controlStates(ctl rules.Controls, open map[string]map[finding.Severity]int, newByKind map[string]int, openIDs map[string][]string) []controlState {
	var out []controlState
	for _, c := range rules.ReportedControls {
		s := controlState{Control: c, Kinds: ctl.Kinds(c.ID)}
		for _, k := range s.Kinds {
			for sev, n := range open[k] {
				s.Open += n
				if sev.AtLeast(finding.High) {
					s.OpenHigh += n
				}
			}
			s.New += newByKind[k]
			s.IDs = append(s.IDs, openIDs[k]...)
		}
		switch {
		case len(s.Kinds) == 0:
			s.Status = "no evidence"
		case s.OpenHigh > 0:
			s.Status = "fail"
		case s.Open > 0:
			s.Status = "attention"
		default:
			s.Status = "pass"
		}
		out = append(out, s)
	}
	return out
}

func (w *workbook) daily(days []store.DayCount) error {
	f := w.f
	head := []any{"Date"}
	for _, s := range severities {
		head = append(head, string(s))
	}
	head = append(head, "total")
	if err := f.SetSheetRow("Daily", "A1", &head); err != nil {
		return err
	}
	for i, d := range days {
		row := []any{d.Day}
		for _, s := range severities {
			row = append(row, d.Open[s])
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := f.SetSheetRow("Daily", cell, &row); err != nil {
			return err
		}
		if err := f.SetCellFormula("Daily", fmt.Sprintf("G%d", i+2), fmt.Sprintf("SUM(B%d:F%d)", i+2, i+2)); err != nil {
			return err
		}
	}
	dateOnly := "yyyy-mm-dd"
	st, err := f.NewStyle(&excelize.Style{CustomNumFmt: &dateOnly})
	if err != nil {
		return err
	}
	if err := f.SetCellStyle("Daily", "A2", fmt.Sprintf("A%d", len(days)+1), st); err != nil {
		return err
	}
	if err := f.SetCellStyle("Daily", "A1", "G1", w.header); err != nil {
		return err
	}
	if err := f.SetColWidth("Daily", "A", "A", 12); err != nil {
		return err
	}
	if err := w.printSetup("Daily", 1); err != nil {
		return err
	}
	return f.SetPanes("Daily", &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"})
}

func (w *workbook) summary(month string, now time.Time, runs []store.Run, openEnd []store.KindSeverityCount, act store.MonthActivity,
	rot rotationStats, days int, auditState string) error {
	f, sh := w.f, "Summary"
	if err := w.printSetup(sh, 0); err != nil {
		return err
	}
	set := func(cell string, v any) {
		_ = f.SetCellValue(sh, cell, v)
	}
	set("A1", "vigil monthly secrets compliance report: "+month)
	_ = f.SetCellStyle(sh, "A1", "A1", w.title)
	set("A2", "Generated")
	set("B2", now.UTC())
	_ = f.SetCellStyle(sh, "B2", "B2", w.date)
	set("A3", "vigil version")
	set("B3", Version)
	set("A4", "Audit chain")
	set("B4", auditState)

	byStatus := map[string]int{}
	for _, r := range runs {
		byStatus[r.Status]++
	}
	set("A6", "Runs")
	set("B6", len(runs))
	set("A7", "Runs ok / partial / failed or aborted")
	set("B7", fmt.Sprintf("%d / %d / %d", byStatus[store.RunOK], byStatus[store.RunPartial], byStatus[store.RunFailed]+byStatus["aborted"]))

	set("A9", "Open findings at month end")
	set("B9", "count")
	bySev := map[finding.Severity]int{}
	byKind := map[string]int{}
	for _, c := range openEnd {
		bySev[c.Severity] += c.N
		byKind[c.Kind] += c.N
	}
	r := 10
	for _, s := range severities {
		set(fmt.Sprintf("A%d", r), string(s))
		set(fmt.Sprintf("B%d", r), bySev[s])
		r++
	}
	set(fmt.Sprintf("A%d", r), "total")
	_ = f.SetCellFormula(sh, fmt.Sprintf("B%d", r), fmt.Sprintf("SUM(B10:B%d)", r-1))
	totalRow := r
	r += 2

	set(fmt.Sprintf("A%d", r), "This month")
	r++
	for _, kv := range []struct {
		k string
		v any
	}{{"new", act.New}, {"resolved", act.Resolved}, {"regressed", act.Regressed}, {"suppressed", act.Suppressed},
		{"mean time to remediate (days)", roundDays(act.MTTR)}} {
		set(fmt.Sprintf("A%d", r), kv.k)
		set(fmt.Sprintf("B%d", r), kv.v)
		r++
	}
	r++
	set(fmt.Sprintf("A%d", r), "Rotation")
	r++
	set(fmt.Sprintf("A%d", r), "secrets with a rotation policy")
	set(fmt.Sprintf("B%d", r), rot.withPolicy)
	set(fmt.Sprintf("A%d", r+1), "rotated within policy")
	set(fmt.Sprintf("B%d", r+1), rot.compliant)
	set(fmt.Sprintf("A%d", r+2), "rotation compliance")
	_ = f.SetCellFormula(sh, fmt.Sprintf("B%d", r+2), fmt.Sprintf(`IF(B%d=0,"n/a",B%d/B%d)`, r, r+1, r))
	_ = f.SetCellStyle(sh, fmt.Sprintf("B%d", r+2), fmt.Sprintf("B%d", r+2), w.pct)
	r += 4
	set(fmt.Sprintf("A%d", r), "Secrets by age since last rotation")
	bucketStart := r + 1
	for i, name := range bucketNames {
		set(fmt.Sprintf("A%d", bucketStart+i), name)
		set(fmt.Sprintf("B%d", bucketStart+i), rot.buckets[i])
	}
	r = bucketStart + len(bucketNames) + 1

	set(fmt.Sprintf("A%d", r), "Open findings by kind")
	r++
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		set(fmt.Sprintf("A%d", r), k)
		set(fmt.Sprintf("B%d", r), byKind[k])
		r++
	}
	for _, c := range []string{"A6", "A9", fmt.Sprintf("A%d", totalRow+2), fmt.Sprintf("A%d", bucketStart-1)} {
		_ = f.SetCellStyle(sh, c, c, w.header)
	}
	if err := f.SetColWidth(sh, "A", "A", 40); err != nil {
		return err
	}
	if err := f.SetColWidth(sh, "B", "B", 44); err != nil {
		return err
	}

	// Charts: daily open findings by severity, and secrets by rotation age.
	var series []excelize.ChartSeries
	for i := range severities {
		col, _ := excelize.ColumnNumberToName(i + 2)
		series = append(series, excelize.ChartSeries{
			Name:       fmt.Sprintf("Daily!$%s$1", col),
			Categories: fmt.Sprintf("Daily!$A$2:$A$%d", days+1),
			Values:     fmt.Sprintf("Daily!$%s$2:$%s$%d", col, col, days+1),
		})
	}
	if err := f.AddChart(sh, "D2", &excelize.Chart{
		Type: excelize.Line, Series: series,
		// The categories are dates; without a format the axis shows their
		// serial numbers (46327). The day of the month, under a title that
		// names the month, stays legible for 31 labels in every program
		// (LibreOffice ignores a label skip).
		XAxis: excelize.ChartAxis{NumFmt: excelize.ChartNumFmt{CustomNumFmt: "d"}, Font: excelize.Font{Color: "404040"},
			Title: excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: "day of " + month}}}},
		YAxis:     excelize.ChartAxis{Font: excelize.Font{Color: "404040"}},
		Title:     excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: "Open findings by severity, per day"}}},
		Dimension: excelize.ChartDimension{Width: 720, Height: 320},
		Legend:    excelize.ChartLegend{Position: "bottom"},
	}); err != nil {
		return err
	}
	return f.AddChart(sh, "D20", &excelize.Chart{
		Type: excelize.Col,
		Series: []excelize.ChartSeries{{
			Name:       "Summary!$A$" + fmt.Sprint(bucketStart-1),
			Categories: fmt.Sprintf("Summary!$A$%d:$A$%d", bucketStart, bucketStart+len(bucketNames)-1),
			Values:     fmt.Sprintf("Summary!$B$%d:$B$%d", bucketStart, bucketStart+len(bucketNames)-1),
		}},
		XAxis:     excelize.ChartAxis{Font: excelize.Font{Color: "404040"}},
		YAxis:     excelize.ChartAxis{Font: excelize.Font{Color: "404040"}},
		Title:     excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: "Secrets by age since last rotation"}}},
		Dimension: excelize.ChartDimension{Width: 720, Height: 320},
		Legend:    excelize.ChartLegend{Position: "none"},
	})
}

func roundDays(d time.Duration) float64 {
	return float64(int(d.Hours()/24*10+0.5)) / 10
}

var severities = []finding.Severity{finding.Critical, finding.High, finding.Medium, finding.Low, finding.Info}

var bucketNames = [6]string{"0-30 days", "31-60 days", "61-90 days", "91-180 days", "181-365 days", "over 365 days"}
