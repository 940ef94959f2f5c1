package reports

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

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
