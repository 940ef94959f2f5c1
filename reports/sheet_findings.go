package reports

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/snapshot"
	"github.com/vigilsec/vigil/internal/store"
)

// The inventory, leak, IAM, inventory-finding and synthetic-finding sheets:
// rows streamed from database cursors.

// rotationStats summarises the inventory's rotation for the Summary.
type rotationStats struct {
	secrets, withPolicy, compliant int
	buckets                        [6]int // age in days: 0-30, 31-60, 61-90, 91-180, 181-365, >365
}

func (w *workbook) inventory(ctx context.Context, st MonthSource, month string) (rotationStats, error) {
	var rs rotationStats
	cols := []column{{"Store", 16}, {"Path", 36}, {"Owner", 14}, {"Env", 6}, {"Declared", 9}, {"Last rotated", 16},
		{"Rotation days", 9}, {"Age days", 7}, {"Overdue days", 9}, {"Last accessed", 16}, {"Where", 30}}
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
		keys = []string{"account", "principal", "policy", "uncovered_action", "uncovered_resources", "action", "resources", "access_key_id",
			"reason", "trusted", "denied_by", "reader", "secret", "where", "iam_user", "cluster", "grant", "binding", "missing"}
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

// findingSheets route findings to sheets by kind prefix.
var findingSheets = []struct{ prefix, sheet string }{
	{"leak.", "Leaks"},
	{"iam.", "IAM drift"},
	{"synthetic.", "Synthetic findings"},
	{"inventory.", "Inventory findings"},
}

var findingCols = []column{{"ID", 20}, {"Severity", 9}, {"Status", 9}, {"Kind", 20}, {"Resource", 26}, {"Title", 32},
	{"Location", 22}, {"Evidence", 28}, {"First seen", 16}, {"Last seen", 16}, {"Resolved", 16}, {"Regressions", 11}, {"Controls", 22}}

// findings streams every finding active in the month to its sheet, in one
// pass over the database: rows come ordered by kind, so each kind prefix's
// rows are contiguous and one sheet's stream is open at a time. It also
// counts findings new this month by kind and keeps a few open ids per kind
// for the Controls sheet.
func (w *workbook) findings(ctx context.Context, st MonthSource, from, to time.Time, openIDs map[string][]string, newByKind map[string]int) (int, error) {
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
