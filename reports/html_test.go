package reports

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/rules"
)

// htmlFixture is a report over findings of every family, one with a hostile
// resource name and one with a planted secret's redaction and hash only.
func htmlFixture(t *testing.T, secret string) []byte {
	t.Helper()
	day := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	mk := func(id string, kind finding.Kind, sev finding.Severity, status finding.Status, resource, title string, ev finding.Evidence) finding.Finding {
		return finding.Finding{ID: id, Kind: kind, Severity: sev, Status: status, Resource: resource, Title: title,
			Detail: "detail of " + title, Evidence: ev, FirstSeen: day, LastSeen: day.AddDate(0, 0, 3)}
	}
	fs := []finding.Finding{
		mk("a1", finding.KindLeakGit, finding.Critical, finding.StatusOpen, "payments@0123456789ab config/db.yaml:12", "AWS key in git",
			finding.Evidence{"rule": "aws-access-token", "redacted": "AKIA****" + secret[len(secret)-4:], "secret_hash": "h:1"}),
		mk("a2", finding.KindLeakGit, finding.High, finding.StatusOpen, `<img src=x onerror=alert(1)>.env`, "token in <script>alert(2)</script>", nil),
		mk("b1", finding.KindIAMTrustTooBroad, finding.Critical, finding.StatusOpen, "arn:aws:iam::123456789012:role/deploy", "role deploy can be assumed too widely",
			finding.Evidence{"reason": "oidc_repo_wildcard"}),
		mk("c1", finding.KindInvRotationOverdue, finding.Medium, finding.StatusOpen, "vault:secret/prod/db", "rotation overdue", nil),
		mk("d1", finding.KindSynDeniedAllowed, finding.High, finding.StatusResolved, "etl", "denied call allowed", nil),
	}
	var days []store.DayCount
	for i := 0; i < 10; i++ {
		days = append(days, store.DayCount{Day: day.AddDate(0, 0, i), Open: map[finding.Severity]int{finding.Critical: i % 3, finding.High: 2}})
	}
	var b bytes.Buffer
	run := Run{ID: "run-1", Status: "partial", StartedAt: day, Duration: time.Minute, AuditHead: "42:abcd",
		Transitions: map[string]finding.Transition{"a1": finding.New, "d1": finding.Resolved},
		Errors:      map[string]string{"leaks:git:gone": "clone failed"}}
	if err := HTML(&b, HTMLInput{Run: run, Findings: fs, Days: days, Controls: rules.DefaultControls(), Now: day}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestHTMLReportIsSelfContainedAndEscaped(t *testing.T) {
	secret := testenv.FakeAWSKey()
	page := string(htmlFixture(t, secret))
	if strings.Contains(page, secret) {
		t.Fatal("the planted secret is in the HTML report")
	}
	for _, bad := range []string{"<img src=x", "<script>alert(2)", "http://", "https://"} {
		if strings.Contains(page, bad) {
			t.Errorf("report holds %q: unescaped text or a network reference", bad)
		}
	}
	for _, want := range []string{"default-src 'none'", `id="trend-chart"`, "<polyline", `id="kind-leak.git"`, `id="controls-table"`,
		"Partial run", "1 new", "42:abcd", "CC6.1"} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// TestHTMLReportInChromium opens the report in a real headless Chromium:
// no console error or exception, no request but the page itself, the
// table filters, and a screenshot is taken.
func TestHTMLReportInChromium(t *testing.T) {
	testenv.Required(t, "chromium")
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	if err := os.WriteFile(path, htmlFixture(t, testenv.FakeAWSKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath("chromium"), chromedp.NoSandbox,
		chromedp.UserDataDir(filepath.Join(dir, "profile")), chromedp.WindowSize(1280, 1400))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	var mu sync.Mutex
	var problems, requests []string
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+e.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				problems = append(problems, "console "+string(e.Type))
			}
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError || e.Entry.Level == cdplog.EntryLevelWarning {
				problems = append(problems, "log: "+e.Entry.Text)
			}
		case *network.EventRequestWillBeSent:
			requests = append(requests, e.Request.URL)
		}
	}))
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	text := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+path), chromedp.WaitVisible(chromedp.CSS("#findings-table"))); err != nil {
		t.Fatal(err)
	}
	shown := text(`document.getElementById("shown").textContent`)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#q"), "leak.git")); err != nil {
		t.Fatal(err)
	}
	afterKind := text(`document.getElementById("shown").textContent`)
	visible := text(`String(document.querySelectorAll("#findings-table tbody tr:not([hidden])").length)`)
	setAndRead := func(id, value string) string {
		return text(`(function(){var q=document.getElementById("q"); q.value=""; q.dispatchEvent(new Event("input"));` +
			`var el=document.getElementById("` + id + `"); el.value="` + value + `"; el.dispatchEvent(new Event("change"));` +
			`return document.getElementById("shown").textContent})()`)
	}
	afterSev := setAndRead("sev", "1")
	text(`(function(){var el=document.getElementById("sev"); el.value="0"; el.dispatchEvent(new Event("change")); return ""})()`)
	afterAll := setAndRead("status", "")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#findings-table th[data-key="rank"]`))); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	visibleN := 0
	fmt.Sscan(visible, &visibleN)
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Errorf("console: %v", problems)
	}
	for _, r := range requests {
		if r != "file://"+path {
			t.Errorf("the report made a request: %s", r)
		}
	}
	// Open by default: 4 of 5; "leak.git": 2; critical only: 2; all: 5.
	if shown != "4 of 5 shown" || afterKind != "2 of 5 shown" || visibleN != 2 || afterSev != "2 of 5 shown" || afterAll != "5 of 5 shown" {
		t.Errorf("filters: %q %q (%d rows) %q %q", shown, afterKind, visibleN, afterSev, afterAll)
	}
	if len(png) < 10_000 || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("screenshot of %d bytes, not a PNG", len(png))
	}
	if d := os.Getenv("VIGIL_KEEP_SCREENSHOT"); d != "" {
		os.WriteFile(filepath.Join(d, "report.png"), png, 0o644)
	}
}
