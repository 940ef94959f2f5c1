package reports

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"github.com/vigilsec/vigil/internal/finding"
)

// The workbook and its streamed tables: what every sheet is written with.

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

type workbook struct {
	f                 *excelize.File
	month             string // "2026-10", in every page's footer
	header, date, pct int
	wrap              int // long text, wrapped so a sheet prints one page wide
	top               int // other cells of a table, aligned with the wrapped ones
	title             int
	sevFormats        []excelize.ConditionalFormatOptions
}

func newWorkbook(month string) (*workbook, error) {
	f := excelize.NewFile()
	w := &workbook{f: f, month: month}
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
	w.header = mk(&excelize.Style{Font: &excelize.Font{Bold: true}, Alignment: &excelize.Alignment{WrapText: true, Vertical: "top"}})
	w.wrap = mk(&excelize.Style{Alignment: &excelize.Alignment{WrapText: true, Vertical: "top"}})
	w.top = mk(&excelize.Style{Alignment: &excelize.Alignment{Vertical: "top"}})
	w.title = mk(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}})
	w.date = mk(&excelize.Style{CustomNumFmt: &dateFmt, Alignment: &excelize.Alignment{Vertical: "top"}})
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

// column is one column of a table sheet. Columns of wrapWidth or more hold
// long text (paths, titles, evidence, hashes): their cells wrap, so the
// sheet prints one page wide at a readable scale rather than running
// hundreds of characters across.
type column struct {
	name  string
	width float64
}

const wrapWidth = 20

// A wrapped row is lineHeight points a line, at most maxLines lines (a
// longer cell shows its start; the whole text is in the cell).
const (
	lineHeight = 15
	maxLines   = 12
)

// wrappedLines estimates how many lines s takes in a column width
// characters wide: a column's width is in widths of "0", and most text is
// narrower, so this errs towards a taller row rather than a clipped one.
func wrappedLines(s string, width float64) int {
	per := max(int(width)-1, 1)
	n := 0
	for _, para := range strings.Split(s, "\n") {
		n += max(1, (utf8.RuneCountInString(para)+per-1)/per)
	}
	return n
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
	if err := w.printSetup(sheet, 1); err != nil {
		return nil, err
	}
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
	lines := 1
	for i, v := range vals {
		if tm, ok := v.(time.Time); ok {
			if !tm.IsZero() {
				row[i] = excelize.Cell{StyleID: t.w.date, Value: tm.UTC()}
			}
			continue
		}
		if s, ok := v.(string); ok && i < len(t.cols) && t.cols[i].width >= wrapWidth && s != "" {
			row[i] = excelize.Cell{StyleID: t.w.wrap, Value: s}
			lines = max(lines, wrappedLines(s, t.cols[i].width))
			continue
		}
		row[i] = excelize.Cell{StyleID: t.w.top, Value: v}
	}
	cell, _ := excelize.CoordinatesToCellName(1, t.n+1)
	if lines > 1 {
		// Spreadsheet programs do not all grow a streamed row to fit its
		// wrapped text (LibreOffice keeps the default height, and the
		// lines then print over the next row), so the height is set.
		return t.sw.SetRow(cell, row, excelize.RowOpts{Height: float64(min(lines, maxLines)) * lineHeight})
	}
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

// printSetup makes a sheet print as auditors ask for it (PDF, paper):
// landscape A4, all columns on one page wide (as many pages down as the rows
// need), the header row on every page, and a footer naming the report month,
// the sheet and the page. Set before a sheet is streamed, since the stream
// writer writes the page setup it finds then.
func (w *workbook) printSetup(sheet string, titleRows int) error {
	landscape, a4, one, zero, fit := "landscape", 9, 1, 0, true
	if err := w.f.SetSheetProps(sheet, &excelize.SheetPropsOptions{FitToPage: &fit}); err != nil {
		return err
	}
	if err := w.f.SetPageLayout(sheet, &excelize.PageLayoutOptions{Size: &a4, Orientation: &landscape, FitToWidth: &one, FitToHeight: &zero}); err != nil {
		return err
	}
	margin, edge := 0.4, 0.25
	if err := w.f.SetPageMargins(sheet, &excelize.PageLayoutMarginsOptions{Left: &margin, Right: &margin, Top: &margin, Bottom: &margin,
		Header: &edge, Footer: &edge}); err != nil {
		return err
	}
	footer := fmt.Sprintf("&Lvigil monthly report %s&C%s&RPage &P of &N", w.month, sheet)
	if err := w.f.SetHeaderFooter(sheet, &excelize.HeaderFooterOptions{OddFooter: footer}); err != nil {
		return err
	}
	if titleRows == 0 {
		return nil
	}
	return w.f.SetDefinedName(&excelize.DefinedName{Name: "_xlnm.Print_Titles", Scope: sheet,
		RefersTo: fmt.Sprintf("'%s'!$1:$%d", sheet, titleRows)})
}
