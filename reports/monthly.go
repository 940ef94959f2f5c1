package reports

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/ledger"
	"github.com/vigilsec/vigil/internal/snapshot"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/rules"
)

// ErrNoRuns is returned for a month the database has no runs in: an empty
// workbook would look like a clean month.
var ErrNoRuns = errors.New("no runs")

// MonthlyStats says what went into a workbook.
type MonthlyStats struct {
	Runs, Findings, Secrets, Credentials int
}

var severities = []finding.Severity{finding.Critical, finding.High, finding.Medium, finding.Low, finding.Info}

// findingSheets route findings to sheets by kind prefix.
var findingSheets = []struct{ prefix, sheet string }{
	{"leak.", "Leaks"},
	{"iam.", "IAM drift"},
	{"synthetic.", "Synthetic findings"},
	{"inventory.", "Inventory findings"},
}

// Monthly writes the compliance workbook for month ("YYYY-MM") from the
// store's history to path. Finding and inventory sheets are written with
// excelize's StreamWriter, straight from a database cursor, so the size of
// the month does not decide the memory used.
func Monthly(ctx context.Context, st *store.Store, month, path string, controls rules.Controls, now time.Time) (MonthlyStats, error) {
	var stats MonthlyStats
	from, err := time.Parse("2006-01", month)
	if err != nil {
		return stats, fmt.Errorf("--month %q: want YYYY-MM", month)
	}
	to := from.AddDate(0, 1, 0)
	end := to // what "at the end of the month" means for the current month is now
	if now.Before(end) {
		end = now
	}
	runs, err := st.Runs(ctx, from, to)
	if err != nil {
		return stats, err
	}
	if len(runs) == 0 {
		all, _ := st.Runs(ctx, time.Time{}, time.Time{})
		if len(all) == 0 {
			return stats, fmt.Errorf("%w in %s: the database has no runs at all; run `vigil run` first", ErrNoRuns, month)
		}
		return stats, fmt.Errorf("%w in %s: nothing to report (the database has runs from %s to %s)", ErrNoRuns, month,
			all[0].StartedAt.Format("2006-01-02"), all[len(all)-1].StartedAt.Format("2006-01-02"))
	}
	stats.Runs = len(runs)

	w, err := newWorkbook()
	if err != nil {
		return stats, err
	}
	defer w.f.Close()

	// Sheets in the order a reader wants them; Summary is filled last,
	// from what the others counted.
	for _, name := range []string{"Inventory", "Leaks", "IAM drift", "Synthetic checks", "Synthetic findings", "Inventory findings", "Remediation", "Controls", "Daily", "Runs"} {
		if _, err := w.f.NewSheet(name); err != nil {
			return stats, err
		}
	}

	rot, err := w.inventory(ctx, st, month)
	stats.Secrets = rot.secrets
	if err != nil {
		return stats, fmt.Errorf("Inventory sheet: %w", err)
	}

	openIDs := map[string][]string{} // kind -> open finding ids (first few), for Controls
	newByKind := map[string]int{}
	if stats.Findings, err = w.findings(ctx, st, from, to, openIDs, newByKind); err != nil {
		return stats, fmt.Errorf("finding sheets: %w", err)
	}
	creds, err := st.Credentials(ctx, ledger.Filter{From: from, To: to})
	if err != nil {
		return stats, err
	}
	stats.Credentials = len(creds)
	if err := w.ledger(creds); err != nil {
		return stats, fmt.Errorf("Synthetic checks sheet: %w", err)
	}
	audit, err := st.AuditLog(ctx)
	if err != nil {
		return stats, err
	}
	checked, broken, err := st.VerifyEntries(ctx, audit)
	if err != nil {
		return stats, err
	}
	if err := w.remediation(audit, from, to); err != nil {
		return stats, fmt.Errorf("Remediation sheet: %w", err)
	}
	openEnd, err := st.OpenAt(ctx, end)
	if err != nil {
		return stats, err
	}
	act, err := st.Activity(ctx, from, to)
	if err != nil {
		return stats, err
	}
	auditState := fmt.Sprintf("audit chain verified: %d rows, intact", checked)
	if len(broken) > 0 {
		auditState = fmt.Sprintf("audit chain BROKEN: %s", strings.Join(broken, "; "))
	}
	if err := w.controls(controls, openEnd, newByKind, openIDs, len(runs), len(creds), auditState); err != nil {
		return stats, fmt.Errorf("Controls sheet: %w", err)
	}
	days, err := st.DailyOpen(ctx, from, minTime(to, now.AddDate(0, 0, 1).Truncate(24*time.Hour)))
	if err != nil {
		return stats, err
	}
	if err := w.daily(days); err != nil {
		return stats, err
	}
	if err := w.runs(runs); err != nil {
		return stats, err
	}
	if err := w.summary(month, now, runs, openEnd, act, rot, len(days), auditState); err != nil {
		return stats, fmt.Errorf("Summary sheet: %w", err)
	}
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	if err := w.props(month, now, ids); err != nil {
		return stats, err
	}
	return stats, w.save(path)
}

// save writes the workbook to path without holding it in memory: excelize's
// SaveAs builds the whole zip in a bytes.Buffer first (hundreds of MB for a
// million findings), so the zip writer it is given writes to the file
// instead and the buffer it fills stays empty. Zip64 fix-ups, which
// excelize applies to that buffer, are only needed past 4 GiB per sheet.
func (w *workbook) save(path string) error {
	out, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(out)
	w.f.SetZipWriter(func(io.Writer) excelize.ZipWriter { return zw })
	if _, err := w.f.WriteTo(io.Discard); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

type workbook struct {
	f                 *excelize.File
	header, date, pct int
	title             int
	sevFormats        []excelize.ConditionalFormatOptions
}

func newWorkbook() (*workbook, error) {
	f := excelize.NewFile()
	w := &workbook{f: f}
	if err := f.SetSheetName("Sheet1", "Summary"); err != nil {
		return nil, err
	}
	var err error
	mk := func(s *excelize.Style) int {
		if err != nil {
			return 0
		}
		var id int
		id, err = f.NewStyle(s)
		return id
	}
	dateFmt := "yyyy-mm-dd hh:mm"
	pctFmt := "0.0%"
	w.header = mk(&excelize.Style{Font: &excelize.Font{Bold: true}})
	w.title = mk(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}})
	w.date = mk(&excelize.Style{CustomNumFmt: &dateFmt})
	w.pct = mk(&excelize.Style{CustomNumFmt: &pctFmt})
	if err != nil {
		return nil, err
	}
	colours := map[finding.Severity][2]string{
		finding.Critical: {"7B0000", "FFFFFF"}, finding.High: {"F4B6B6", "000000"},
		finding.Medium: {"FCE4A8", "000000"}, finding.Low: {"DDEBF7", "000000"},
	}
	for _, sev := range severities[:4] {
		c := colours[sev]
		id, err := f.NewConditionalStyle(&excelize.Style{Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{c[0]}}, Font: &excelize.Font{Color: c[1]}})
		if err != nil {
			return nil, err
		}
		w.sevFormats = append(w.sevFormats, excelize.ConditionalFormatOptions{Type: "cell", Criteria: "==", Value: `"` + string(sev) + `"`, Format: &id})
	}
	return w, nil
}

// column is one column of a table sheet.
type column struct {
	name  string
	width float64
}

// tableWriter streams a sheet as one Excel table: widths, a frozen header
// row, filters, and conditional formats per column (1-based), which must be
// set before the stream is flushed.
type tableWriter struct {
	w      *workbook
	sw     *excelize.StreamWriter
	sheet  string
	cols   []column
	format map[int][]excelize.ConditionalFormatOptions
	n      int
}

func (w *workbook) begin(sheet string, cols []column, format map[int][]excelize.ConditionalFormatOptions) (*tableWriter, error) {
	sw, err := w.f.NewStreamWriter(sheet)
	if err != nil {
		return nil, err
	}
	for i, c := range cols {
		if err := sw.SetColWidth(i+1, i+1, c.width); err != nil {
			return nil, err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return nil, err
	}
	head := make([]any, len(cols))
	for i, c := range cols {
		head[i] = excelize.Cell{StyleID: w.header, Value: c.name}
	}
	if err := sw.SetRow("A1", head); err != nil {
		return nil, err
	}
	return &tableWriter{w: w, sw: sw, sheet: sheet, cols: cols, format: format}, nil
}

func (t *tableWriter) add(vals ...any) error {
	t.n++
	row := make([]any, len(vals))
	for i, v := range vals {
		if tm, ok := v.(time.Time); ok {
			if !tm.IsZero() {
				row[i] = excelize.Cell{StyleID: t.w.date, Value: tm.UTC()}
			}
			continue
		}
		row[i] = v
	}
	cell, _ := excelize.CoordinatesToCellName(1, t.n+1)
	return t.sw.SetRow(cell, row)
}

// end adds the table and the formats and flushes; it returns the data rows.
func (t *tableWriter) end() (int, error) {
	n := t.n
	if n == 0 {
		// A table needs a data row; say plainly that there is none.
		if err := t.add("(none this month)"); err != nil {
			return 0, err
		}
	}
	rows := max(n, 1) + 1
	last, _ := excelize.CoordinatesToCellName(len(t.cols), rows)
	name := strings.NewReplacer(" ", "_").Replace(t.sheet)
	if err := t.sw.AddTable(&excelize.Table{Range: "A1:" + last, Name: name, StyleName: "TableStyleMedium2"}); err != nil {
		return 0, err
	}
	for col, opts := range t.format {
		c, _ := excelize.ColumnNumberToName(col)
		if err := t.w.f.SetConditionalFormat(t.sheet, fmt.Sprintf("%s2:%s%d", c, c, rows), opts); err != nil {
			return 0, err
		}
	}
	return n, t.sw.Flush()
}

// table writes a whole table sheet from rows.
func (w *workbook) table(sheet string, cols []column, format map[int][]excelize.ConditionalFormatOptions, rows func(add func(...any) error) error) (int, error) {
	t, err := w.begin(sheet, cols, format)
	if err != nil {
		return 0, err
	}
	if err := rows(t.add); err != nil {
		return 0, err
	}
	return t.end()
}

func (w *workbook) fill(colour string) ([]excelize.ConditionalFormatOptions, error) {
	id, err := w.f.NewConditionalStyle(&excelize.Style{Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{colour}}})
	return []excelize.ConditionalFormatOptions{{Type: "cell", Criteria: ">", Value: "0", Format: &id}}, err
}

// rotationStats summarises the inventory's rotation for the Summary.
type rotationStats struct {
	secrets, withPolicy, compliant int
	buckets                        [6]int // age in days: 0-30, 31-60, 61-90, 91-180, 181-365, >365
}

var bucketNames = [6]string{"0-30 days", "31-60 days", "61-90 days", "91-180 days", "181-365 days", "over 365 days"}

func (w *workbook) inventory(ctx context.Context, st *store.Store, month string) (rotationStats, error) {
	var rs rotationStats
	cols := []column{{"Store", 16}, {"Path", 48}, {"Owner", 16}, {"Env", 8}, {"Declared", 10}, {"Last rotated", 18},
		{"Rotation days", 14}, {"Age days", 10}, {"Overdue days", 14}, {"Last accessed", 18}, {"Where", 40}}
	overdue, err := w.fill("F4B6B6")
	if err != nil {
		return rs, err
	}
	_, err = w.table("Inventory", cols, map[int][]excelize.ConditionalFormatOptions{9: overdue}, func(add func(...any) error) error {
		return st.EachSecret(ctx, month, func(r *snapshot.Secret) error {
			rs.secrets++
			var age, overdue any
			if !r.LastRotated.IsZero() {
				a := int(r.ListedAt.Sub(r.LastRotated).Hours() / 24)
				age = a
				b := 5
				switch {
				case a <= 30:
					b = 0
				case a <= 60:
					b = 1
				case a <= 90:
					b = 2
				case a <= 180:
					b = 3
				case a <= 365:
					b = 4
				}
				rs.buckets[b]++
				if r.RotationDays > 0 {
					rs.withPolicy++
					overdue = max(0, a-r.RotationDays)
					if a <= r.RotationDays {
						rs.compliant++
					}
				}
			}
			return add(r.Store, r.Path, r.Owner, r.Env, r.Declared, r.LastRotated, r.RotationDays, age, overdue, r.LastAccessed, r.Where)
		})
	})
	return rs, err
}

var findingCols = []column{{"ID", 34}, {"Severity", 10}, {"Status", 11}, {"Kind", 26}, {"Resource", 50}, {"Title", 60},
	{"Location", 50}, {"Evidence", 40}, {"First seen", 18}, {"Last seen", 18}, {"Resolved", 18}, {"Regressions", 12}, {"Controls", 40}}

// findings streams every finding active in the month to its sheet, in one
// pass over the database: rows come ordered by kind, so each kind prefix's
// rows are contiguous and one sheet's stream is open at a time. It also
// counts findings new this month by kind and keeps a few open ids per kind
// for the Controls sheet.
func (w *workbook) findings(ctx context.Context, st *store.Store, from, to time.Time, openIDs map[string][]string, newByKind map[string]int) (int, error) {
	sheets := map[string]string{}
	for _, fs := range findingSheets {
		sheets[fs.prefix] = fs.sheet
	}
	format := map[int][]excelize.ConditionalFormatOptions{2: w.sevFormats}
	var cur *tableWriter
	done := map[string]bool{}
	total := 0
	closeCur := func() error {
		if cur == nil {
			return nil
		}
		n, err := cur.end()
		total += n
		done[cur.sheet], cur = true, nil
		return err
	}
	err := st.EachFinding(ctx, from, to, func(r *store.FindingRow) error {
		prefix, _, _ := strings.Cut(string(r.Kind), ".")
		sheet := sheets[prefix+"."]
		if sheet == "" {
			return nil
		}
		if cur == nil || cur.sheet != sheet {
			if err := closeCur(); err != nil {
				return err
			}
			var err error
			if cur, err = w.begin(sheet, findingCols, format); err != nil {
				return err
			}
		}
		if !r.FirstSeen.Before(from) {
			newByKind[string(r.Kind)]++
		}
		if k := string(r.Kind); r.Status == finding.StatusOpen && len(openIDs[k]) < 20 {
			openIDs[k] = append(openIDs[k], r.ID)
		}
		var resolved any
		if r.Status == finding.StatusResolved {
			resolved = r.ResolvedAt
		}
		return cur.add(r.ID, string(r.Severity), string(r.Status), string(r.Kind), r.Resource, r.Title, location(r.Location),
			evidence(string(r.Kind), r.Evidence), r.FirstSeen, r.LastSeen, resolved, r.Regressions, strings.Join(r.Controls, ", "))
	})
	if err != nil {
		return total, err
	}
	if err := closeCur(); err != nil {
		return total, err
	}
	for _, fs := range findingSheets {
		if !done[fs.sheet] {
			if _, err := w.table(fs.sheet, findingCols, format, func(func(...any) error) error { return nil }); err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

func location(l *finding.Location) string {
	if l == nil || l.Path == "" {
		return ""
	}
	s := l.Path
	if l.Line > 0 {
		s += fmt.Sprintf(":%d", l.Line)
	}
	if l.Commit != "" {
		c := l.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		s = c + " " + s
	}
	if l.Repo != "" {
		s = l.Repo + "@" + s
	}
	return s
}

// evidence picks the few evidence fields a reader of each kind needs. Only
// redactions and hashes are ever in evidence; the value never is.
func evidence(kind string, ev finding.Evidence) string {
	var keys []string
	switch {
	case strings.HasPrefix(kind, "leak."):
		keys = []string{"rule", "redacted", "author", "date", "store"}
	case strings.HasPrefix(kind, "iam."):
		keys = []string{"account", "principal", "policy", "uncovered_action", "uncovered_resources", "action", "resources", "access_key_id"}
	case strings.HasPrefix(kind, "synthetic."):
		keys = []string{"probe", "expected", "outcome", "ledger_id", "credential_id"}
	default:
		keys = []string{"store", "where", "age_days", "rotation_days", "last_accessed"}
	}
	var parts []string
	for _, k := range keys {
		if v, ok := ev[k]; ok && v != nil && fmt.Sprint(v) != "" {
			parts = append(parts, k+"="+fmt.Sprint(v))
		}
	}
	return strings.Join(parts, "; ")
}

func (w *workbook) ledger(creds []ledger.Credential) error {
	cols := []column{{"Ledger ID", 18}, {"Identity", 20}, {"Issuer", 16}, {"Credential ID", 26}, {"Status", 11}, {"Issued", 18},
		{"Expires", 18}, {"Revoked", 18}, {"Cleaned up", 18}, {"Revocation verified", 12}, {"Allowed", 9}, {"Denied", 9},
		{"Inconclusive", 12}, {"Probes", 80}, {"Run", 26}}
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
	cols := []column{{"Seq", 8}, {"At", 18}, {"Actor", 22}, {"Action", 22}, {"Subject", 40}, {"Detail", 60}, {"Previous hash", 66}, {"Hash", 66}}
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

func (w *workbook) controls(ctl rules.Controls, openEnd []store.KindSeverityCount, newByKind map[string]int, openIDs map[string][]string,
	runs, creds int, auditState string) error {
	open := map[string]map[finding.Severity]int{}
	for _, c := range openEnd {
		if open[c.Kind] == nil {
			open[c.Kind] = map[finding.Severity]int{}
		}
		open[c.Kind][c.Severity] += c.N
	}
	cols := []column{{"Framework", 12}, {"Control", 20}, {"Title", 60}, {"Status", 10}, {"Open findings", 14}, {"Open high or critical", 14},
		{"New this month", 14}, {"Kinds", 50}, {"Open finding IDs (first 20 per kind)", 60}, {"Evidence", 70}}
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
		for _, c := range rules.ReportedControls {
			kinds := ctl.Kinds(c.ID)
			var nOpen, nHigh, nNew int
			var ids []string
			for _, k := range kinds {
				for sev, n := range open[k] {
					nOpen += n
					if sev.AtLeast(finding.High) {
						nHigh += n
					}
				}
				nNew += newByKind[k]
				ids = append(ids, openIDs[k]...)
			}
			status := "pass"
			switch {
			case len(kinds) == 0:
				status = "no evidence"
			case nHigh > 0:
				status = "fail"
			case nOpen > 0:
				status = "attention"
			}
			_, name, _ := strings.Cut(c.ID, ":")
			ev := fmt.Sprintf("%d runs this month; %d synthetic credentials in the ledger; %s", runs, creds, auditState)
			if err := add(c.Framework, name, c.Title, status, nOpen, nHigh, nNew, strings.Join(kinds, ", "), strings.Join(ids, ", "), ev); err != nil {
				return err
			}
		}
		return nil
	})
	return err
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
	return f.SetPanes("Daily", &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"})
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

func (w *workbook) summary(month string, now time.Time, runs []store.Run, openEnd []store.KindSeverityCount, act store.MonthActivity,
	rot rotationStats, days int, auditState string) error {
	f, sh := w.f, "Summary"
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
		Title:     excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: "Secrets by age since last rotation"}}},
		Dimension: excelize.ChartDimension{Width: 720, Height: 320},
		Legend:    excelize.ChartLegend{Position: "none"},
	})
}

func roundDays(d time.Duration) float64 {
	return float64(int(d.Hours()/24*10+0.5)) / 10
}

func (w *workbook) props(month string, now time.Time, runIDs []string) error {
	if err := w.f.SetDocProps(&excelize.DocProperties{
		Title:       "vigil monthly secrets compliance report " + month,
		Subject:     "Secrets inventory, leaks, IAM drift, synthetic checks, remediation and controls for " + month,
		Creator:     "vigil " + Version,
		Created:     now.UTC().Format(time.RFC3339),
		Modified:    now.UTC().Format(time.RFC3339),
		Keywords:    "vigil; secrets; compliance; " + month,
		Description: fmt.Sprintf("Generated %s by vigil %s from %d runs", now.UTC().Format(time.RFC3339), Version, len(runIDs)),
		Version:     Version,
	}); err != nil {
		return err
	}
	for _, p := range []excelize.CustomProperty{
		{Name: "vigil month", Value: month},
		{Name: "vigil version", Value: Version},
		{Name: "vigil generated at", Value: now.UTC()},
		{Name: "vigil run ids", Value: strings.Join(runIDs, " ")},
	} {
		if err := w.f.SetCustomProps(p); err != nil {
			return err
		}
	}
	// Summary, the first sheet, is already the active one. (SetActiveSheet
	// would parse every streamed sheet back into memory.)
	return nil
}
