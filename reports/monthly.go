package reports

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

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

// MonthSource is the history the monthly workbook is built from: the
// store (*store.Store) satisfies it. The workbook only formats what these
// calls hand it; finding and inventory rows come through callbacks, one at
// a time, so the month's size never sits in memory.
type MonthSource interface {
	Runs(ctx context.Context, from, to time.Time) ([]store.Run, error)
	Activity(ctx context.Context, from, to time.Time) (store.MonthActivity, error)
	OpenAt(ctx context.Context, t time.Time) ([]store.KindSeverityCount, error)
	DailyOpen(ctx context.Context, from, to time.Time) ([]store.DayCount, error)
	EachFinding(ctx context.Context, from, to time.Time, fn func(*store.FindingRow) error) error
	EachSecret(ctx context.Context, month string, fn func(*snapshot.Secret) error) error
	Credentials(ctx context.Context, f ledger.Filter) ([]ledger.Credential, error)
	AuditLog(ctx context.Context) ([]store.AuditEntry, error)
	VerifyEntries(ctx context.Context, entries []store.AuditEntry) (int, []string, error)
}

// Monthly writes the compliance workbook for month ("YYYY-MM") from the
// store's history to path. Finding and inventory sheets are written with
// excelize's StreamWriter, straight from a database cursor, so the size of
// the month does not decide the memory used.
func Monthly(ctx context.Context, st MonthSource, month, path string, controls rules.Controls, now time.Time) (MonthlyStats, error) {
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

	w, err := newWorkbook(month)
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

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
