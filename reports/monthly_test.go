package reports

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/ledger"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/snapshot"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/rules"
)

// history builds October 2026 in a real store: three nightly runs that find,
// resolve and regress findings of every scanner, a suppression, an inventory
// listing and a synthetic credential.
func history(t *testing.T) *store.Store {
	t.Helper()
	h, _ := secrethash.New(bytes.Repeat([]byte{3}, 32))
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "vigil.db"), h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	ctl := rules.DefaultControls()
	mk := func(id string, kind finding.Kind, sev finding.Severity) finding.Finding {
		return finding.Finding{ID: id, Kind: kind, Severity: sev, Scanner: strings.Split(string(kind), ".")[0], Resource: "r-" + id,
			Title: "title " + id, Evidence: finding.Evidence{"rule": "aws-access-token", "redacted": "AKI****XYZ"}, Controls: ctl.For(kind),
			Location: &finding.Location{Repo: "payments", Commit: "0123456789abcdef", Path: "config/db.yaml", Line: 12}}
	}
	night := func(day int, batches ...store.Batch) {
		at := time.Date(2026, 10, day, 2, 0, 0, 0, time.UTC)
		st.SetClock(func() time.Time { return at })
		id, err := st.BeginRun(ctx, "run")
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range batches {
			if _, err := st.Apply(ctx, id, b); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.FinishRun(ctx, id, store.RunOK, map[string]any{"new": 1}); err != nil {
			t.Fatal(err)
		}
	}
	leak1, leak2 := mk("leak-1", finding.KindLeakGit, finding.High), mk("leak-2", finding.KindLeakGit, finding.Critical)
	iam1 := mk("iam-1", finding.KindIAMExcessGrant, finding.High)
	iam1.Evidence = finding.Evidence{"account": "123456789012", "uncovered_action": "s3:*", "uncovered_resources": []string{"*"}}
	syn1 := mk("syn-1", finding.KindSynAllowedDenied, finding.Medium)
	inv1 := mk("inv-1", finding.KindInvRotationOverdue, finding.High)
	secrets := []snapshot.Secret{
		{Store: "vault", Path: "vault:secret/prod/db", Owner: "data", Env: "prod", Declared: true, RotationDays: 90,
			LastRotated: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)},
		{Store: "vault", Path: "vault:secret/prod/old", Owner: "data", Env: "prod", Declared: true, RotationDays: 90,
			LastRotated: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
	}
	night(5, store.Batch{Source: "git:payments", Mode: store.Full, Findings: []finding.Finding{leak1, leak2}},
		store.Batch{Source: "iam:prod", Mode: store.Full, Findings: []finding.Finding{iam1}},
		store.Batch{Source: "inventory:vault", Mode: store.Full, Findings: []finding.Finding{inv1}, Secrets: secrets})
	night(12, store.Batch{Source: "git:payments", Mode: store.Full, Findings: []finding.Finding{leak1}}, // leak-2 resolved
		store.Batch{Source: "iam:prod", Mode: store.Full}, // iam-1 resolved
		store.Batch{Source: "synthetic:etl", Mode: store.Full, Findings: []finding.Finding{syn1}})
	night(20, store.Batch{Source: "git:payments", Mode: store.Full, Findings: []finding.Finding{leak1, leak2}}) // leak-2 regressed
	st.SetClock(func() time.Time { return time.Date(2026, 10, 21, 9, 0, 0, 0, time.UTC) })
	if err := st.Suppress(ctx, []string{"inv-1"}, "accepted until the migration"); err != nil {
		t.Fatal(err)
	}
	cred := &ledger.Credential{ID: "led-1", RunID: "r", Issuer: "vault:main", Identity: "etl", Target: "http://bao", Status: ledger.Revoked,
		CredentialID: "acc-1", IssuedAt: time.Date(2026, 10, 21, 9, 0, 0, 0, time.UTC), ExpiresAt: time.Date(2026, 10, 21, 9, 6, 0, 0, time.UTC),
		RevokedAt: time.Date(2026, 10, 21, 9, 1, 0, 0, time.UTC), Revocation: map[string]any{"verified": true},
		Probes: []ledger.ProbeRecord{{Probe: "read secret/data/dev/etl", Expect: "allow", Outcome: "denied"}}}
	if err := st.SaveCredential(ctx, cred); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestMonthlyWorkbook(t *testing.T) {
	st := history(t)
	out := filepath.Join(t.TempDir(), "2026-10.xlsx")
	now := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	stats, err := Monthly(context.Background(), st, "2026-10", out, rules.DefaultControls(), now)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Runs != 3 || stats.Findings != 5 || stats.Secrets != 2 || stats.Credentials != 1 {
		t.Fatalf("stats %+v", stats)
	}
	f, err := excelize.OpenFile(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := []string{"Summary", "Inventory", "Leaks", "IAM drift", "Synthetic checks", "Synthetic findings", "Inventory findings",
		"Remediation", "Controls", "Daily", "Runs"}
	if got := f.GetSheetList(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("sheets %v", got)
	}
	get := func(sheet, cell string) string {
		t.Helper()
		v, err := f.GetCellValue(sheet, cell)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// Summary: run count; open at month end: leak-1 high, leak-2 critical
	// (regressed), syn-1 medium; iam-1 resolved, inv-1 suppressed.
	if get("Summary", "B6") != "3" || get("Summary", "B10") != "1" || get("Summary", "B11") != "1" || get("Summary", "B12") != "1" {
		t.Errorf("summary counts: runs %s critical %s high %s medium %s", get("Summary", "B6"), get("Summary", "B10"), get("Summary", "B11"), get("Summary", "B12"))
	}
	if fm, _ := f.GetCellFormula("Summary", "B15"); fm != "SUM(B10:B14)" {
		t.Errorf("total formula %q", fm)
	}
	if v, err := f.CalcCellValue("Summary", "B15"); err != nil || v != "3" {
		t.Errorf("total = %q %v", v, err)
	}
	// This month: new 5, resolved 2, regressed 1, suppressed 1; rotation
	// compliance 1 of 2 as a formula.
	var rows [][]string
	if rows, err = f.GetRows("Summary"); err != nil {
		t.Fatal(err)
	}
	kv := map[string]string{}
	rowOf := map[string]int{}
	for i, r := range rows {
		if len(r) >= 2 {
			kv[r[0]] = r[1]
			rowOf[r[0]] = i + 1
		}
	}
	if kv["new"] != "5" || kv["resolved"] != "2" || kv["regressed"] != "1" || kv["suppressed"] != "1" || kv["secrets with a rotation policy"] != "2" {
		t.Errorf("month activity %v", kv)
	}
	cell := "B" + itoa(rowOf["rotation compliance"])
	if fm, _ := f.GetCellFormula("Summary", cell); !strings.Contains(fm, "/") {
		t.Errorf("compliance formula %q", fm)
	}
	if v, _ := f.CalcCellValue("Summary", cell); v != "0.5" && v != "50.0%" {
		t.Errorf("compliance = %q", v)
	}
	// Two native charts in the package.
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	charts := 0
	for _, zf := range zr.File {
		if strings.HasPrefix(zf.Name, "xl/charts/chart") {
			charts++
		}
	}
	zr.Close()
	if charts != 2 {
		t.Errorf("%d charts", charts)
	}
	// Finding sheets are tables with filters, a frozen header, severity
	// colours and real dates.
	for _, sheet := range []string{"Leaks", "IAM drift", "Inventory", "Synthetic checks", "Controls", "Remediation"} {
		tables, err := f.GetTables(sheet)
		if err != nil || len(tables) != 1 {
			t.Errorf("%s: tables %v %v", sheet, tables, err)
		}
		if p, _ := f.GetPanes(sheet); !p.Freeze || p.YSplit != 1 {
			t.Errorf("%s: header not frozen", sheet)
		}
	}
	if cf, _ := f.GetConditionalFormats("Leaks"); len(cf["B2:B3"]) != 4 {
		t.Errorf("Leaks severity colours: %v", cf)
	}
	if cf, _ := f.GetConditionalFormats("Inventory"); len(cf["I2:I3"]) != 1 {
		t.Errorf("Inventory overdue colour: %v", cf)
	}
	if get("Leaks", "A2") != "leak-2" || get("Leaks", "B2") != "critical" || get("Leaks", "I2") != "2026-10-05 02:00" ||
		get("Leaks", "G2") != "payments@0123456789ab config/db.yaml:12" || !strings.Contains(get("Leaks", "H2"), "redacted=AKI****XYZ") {
		t.Errorf("Leaks row: %q %q %q %q %q", get("Leaks", "A2"), get("Leaks", "B2"), get("Leaks", "I2"), get("Leaks", "G2"), get("Leaks", "H2"))
	}
	if typ, _ := f.GetCellType("Leaks", "I2"); typ == excelize.CellTypeInlineString || typ == excelize.CellTypeSharedString {
		t.Errorf("dates are text, not dates")
	}
	if get("IAM drift", "C2") != "resolved" || get("IAM drift", "K2") != "2026-10-12 02:00" ||
		get("IAM drift", "H2") != "account=123456789012; uncovered_action=s3:*; uncovered_resources=[*]" {
		t.Errorf("IAM row: %q %q %q", get("IAM drift", "C2"), get("IAM drift", "K2"), get("IAM drift", "H2"))
	}
	if get("Inventory", "B3") != "vault:secret/prod/old" || get("Inventory", "I3") != "128" || get("Inventory", "I2") != "0" {
		t.Errorf("Inventory: %q overdue %q / %q", get("Inventory", "B3"), get("Inventory", "I3"), get("Inventory", "I2"))
	}
	if get("Synthetic checks", "A2") != "led-1" || get("Synthetic checks", "J2") != "true" || get("Synthetic checks", "L2") != "1" {
		t.Errorf("ledger row: %q %q %q", get("Synthetic checks", "A2"), get("Synthetic checks", "J2"), get("Synthetic checks", "L2"))
	}
	// Remediation evidence: the suppression and the credential, with hashes.
	rem, _ := f.GetRows("Remediation")
	var actions []string
	for _, r := range rem[1:] {
		actions = append(actions, r[3])
		if len(r) < 8 || len(r[7]) != 64 {
			t.Errorf("remediation row without a hash: %v", r)
		}
	}
	if strings.Join(actions, ",") != "finding.suppress,credential.revoked" {
		t.Errorf("remediation actions %v", actions)
	}
	// Controls: every reported control, with a status.
	ctl, _ := f.GetRows("Controls")
	if len(ctl) != len(rules.ReportedControls)+1 {
		t.Fatalf("controls rows %d", len(ctl))
	}
	status := map[string]string{}
	for _, r := range ctl[1:] {
		status[r[0]+" "+r[1]] = r[3]
	}
	if status["SOC 2 CC6.1"] != "fail" || status["HIPAA 164.312(b)"] != "pass" || status["PCI DSS 4.0 8.3.9"] != "fail" || status["SOC 2 CC7.2"] != "fail" {
		t.Errorf("control status %v", status)
	}
	// Daily history: 31 days; open on the 5th = 4, on the 12th = 3, on the
	// 20th = 4, after the suppression on the 21st = 3.
	daily, _ := f.GetRows("Daily")
	if len(daily) != 32 {
		t.Fatalf("daily rows %d", len(daily))
	}
	for day, want := range map[int]string{4: "0", 5: "4", 12: "3", 20: "4", 21: "3", 31: "3"} {
		if v, _ := f.CalcCellValue("Daily", "G"+itoa(day+1)); v != want {
			t.Errorf("open on Oct %d: %s, want %s", day, v, want)
		}
	}
	// Document properties.
	p, _ := f.GetDocProps()
	if !strings.Contains(p.Title, "2026-10") || p.Creator != "vigil "+Version || !strings.Contains(p.Description, "from 3 runs") {
		t.Errorf("doc props %+v", p)
	}
	cp, _ := f.GetCustomProps()
	found := false
	for _, c := range cp {
		found = found || (c.Name == "vigil run ids" && strings.Count(c.Value.(string), "-") >= 3)
	}
	if !found {
		t.Errorf("custom props %+v", cp)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestMonthWithoutRunsIsAClearError(t *testing.T) {
	st := history(t)
	out := filepath.Join(t.TempDir(), "2026-09.xlsx")
	_, err := Monthly(context.Background(), st, "2026-09", out, rules.DefaultControls(), time.Now())
	if !errors.Is(err, ErrNoRuns) || !strings.Contains(err.Error(), "2026-10-05 to 2026-10-20") {
		t.Fatalf("%v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatal("a workbook was written for a month without runs")
	}
	if _, err := Monthly(context.Background(), st, "2026-13", out, rules.DefaultControls(), time.Now()); err == nil || !strings.Contains(err.Error(), "YYYY-MM") {
		t.Fatalf("bad month: %v", err)
	}
}

// LibreOffice opens the workbook and prints it to PDF: the file is valid
// for a real spreadsheet program, not only for the library that wrote it.
func TestMonthlyWorkbookConvertsWithLibreOffice(t *testing.T) {
	testenv.Required(t, "soffice")
	st := history(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "report.xlsx")
	if _, err := Monthly(context.Background(), st, "2026-10", out, rules.DefaultControls(), time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("soffice", "--headless", "--norestore", "-env:UserInstallation=file://"+filepath.Join(dir, "lo-profile"),
		"--convert-to", "pdf", "--outdir", dir, out)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("soffice: %v\n%s", err, b)
	}
	pdf, err := os.ReadFile(filepath.Join(dir, "report.pdf"))
	if err != nil {
		t.Fatalf("no PDF: %v\n%s", err, b)
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) || len(pdf) < 10_000 {
		t.Fatalf("not a PDF of a workbook (%d bytes)", len(pdf))
	}
	// Printed, each of the 11 sheets is one page wide (before page setup
	// this month ran to 62 pages, columns cut across them), and this
	// month's rows (a handful of findings, 30 controls) need at most two
	// pages down per sheet: more means rows or columns stopped fitting.
	pages := len(pdfPage.FindAll(pdf, -1))
	if pages < 11 || pages > 22 {
		t.Errorf("the workbook prints on %d pages; want 11 to 22", pages)
	}
	if d := os.Getenv("VIGIL_KEEP_PDF"); d != "" { // to look at it: pdftoppm -png report.pdf page
		os.WriteFile(filepath.Join(d, "report.pdf"), pdf, 0o644)
	}
}

// Every sheet has its page setup: landscape, one page wide, a footer with
// the month and the page; table sheets repeat their header row; the daily
// chart's axis shows days, not date serial numbers.
func TestMonthlyWorkbookPrintSetup(t *testing.T) {
	st := history(t)
	out := filepath.Join(t.TempDir(), "report.xlsx")
	if _, err := Monthly(context.Background(), st, "2026-10", out, rules.DefaultControls(), time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	read := func(name string) string {
		f, err := zr.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(f)
		return string(b)
	}
	sheets := 0
	for _, zf := range zr.File {
		if !strings.HasPrefix(zf.Name, "xl/worksheets/sheet") {
			continue
		}
		sheets++
		x := read(zf.Name)
		for _, want := range []string{`orientation="landscape"`, `fitToWidth="1"`, `fitToHeight="0"`, `fitToPage="true"`, "vigil monthly report 2026-10", "Page &amp;P of &amp;N"} {
			if !strings.Contains(x, want) {
				t.Errorf("%s lacks %s", zf.Name, want)
			}
		}
	}
	if sheets != 11 {
		t.Errorf("%d sheets", sheets)
	}
	wb := read("xl/workbook.xml")
	if n := strings.Count(wb, `name="_xlnm.Print_Titles"`); n != 10 {
		t.Errorf("%d sheets repeat their header row; want the 10 table sheets:\n%s", n, wb)
	}
	if c := read("xl/charts/chart1.xml"); !strings.Contains(c, `<numFmt formatCode="d" sourceLinked="false">`) {
		t.Errorf("the daily chart's axis has no date format")
	}
}

// pdfPage matches a page object of an uncompressed PDF dictionary
// (LibreOffice writes them so), not the /Pages tree nodes.
var pdfPage = regexp.MustCompile(`/Type\s*/Page[^s]`)
