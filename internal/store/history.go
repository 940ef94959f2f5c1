package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/vigilsec/vigil/internal/finding"
)

// The history of open findings is replayed from finding_events: new and
// regressed open a finding, resolved and suppressed close it. Counting in
// SQL keeps a million findings out of memory.

const deltaSQL = `CASE e.transition WHEN 'new' THEN 1 WHEN 'regressed' THEN 1 WHEN 'resolved' THEN -1 WHEN 'suppressed' THEN -1 ELSE 0 END`

// KindSeverityCount is a count of findings of one kind and severity.
type KindSeverityCount struct {
	Kind     string
	Severity finding.Severity
	N        int
}

// OpenAt returns how many findings of each kind and severity were open at t.
func (s *Store) OpenAt(ctx context.Context, t time.Time) ([]KindSeverityCount, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT f.kind, f.severity, SUM(`+deltaSQL+`) AS n
		FROM finding_events e JOIN findings f ON f.id = e.finding_id
		WHERE e.at < ? GROUP BY f.kind, f.severity HAVING SUM(`+deltaSQL+`) > 0 ORDER BY f.kind, f.severity`, ts(t))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []KindSeverityCount
	for rows.Next() {
		var c KindSeverityCount
		var sev string
		if err := rows.Scan(&c.Kind, &sev, &c.N); err != nil {
			return nil, err
		}
		c.Severity = finding.Severity(sev)
		out = append(out, c)
	}
	return out, rows.Err()
}

// DayCount is the number of open findings per severity at the end of a day.
type DayCount struct {
	Day  time.Time
	Open map[finding.Severity]int
}

// DailyOpen returns, for each day in [from, to), the findings open at the
// end of that day by severity.
func (s *Store) DailyOpen(ctx context.Context, from, to time.Time) ([]DayCount, error) {
	base, err := s.OpenAt(ctx, from)
	if err != nil {
		return nil, err
	}
	cur := map[finding.Severity]int{}
	for _, c := range base {
		cur[c.Severity] += c.N
	}
	rows, err := s.db.QueryContext(ctx, `SELECT substr(e.at, 1, 10) AS day, f.severity, SUM(`+deltaSQL+`)
		FROM finding_events e JOIN findings f ON f.id = e.finding_id
		WHERE e.at >= ? AND e.at < ? GROUP BY day, f.severity`, ts(from), ts(to))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	deltas := map[string]map[finding.Severity]int{}
	for rows.Next() {
		var day, sev string
		var n int
		if err := rows.Scan(&day, &sev, &n); err != nil {
			return nil, err
		}
		if deltas[day] == nil {
			deltas[day] = map[finding.Severity]int{}
		}
		deltas[day][finding.Severity(sev)] += n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []DayCount
	for d := from.UTC(); d.Before(to); d = d.AddDate(0, 0, 1) {
		for sev, n := range deltas[d.Format("2006-01-02")] {
			cur[sev] += n
		}
		day := DayCount{Day: d, Open: map[finding.Severity]int{}}
		for sev, n := range cur {
			day.Open[sev] = n
		}
		out = append(out, day)
	}
	return out, nil
}

// MonthActivity counts what the runs in [from, to) did, and the mean time
// from first seen to resolved of the findings resolved then.
type MonthActivity struct {
	New, Resolved, Regressed, Suppressed int
	// MTTR is the mean time to remediate of the findings resolved in the
	// period (zero when none was).
	MTTR time.Duration
}

// Activity returns the lifecycle activity in [from, to).
func (s *Store) Activity(ctx context.Context, from, to time.Time) (MonthActivity, error) {
	var a MonthActivity
	rows, err := s.db.QueryContext(ctx, `SELECT transition, COUNT(*) FROM finding_events WHERE at >= ? AND at < ? GROUP BY transition`, ts(from), ts(to))
	if err != nil {
		return a, err
	}
	for rows.Next() {
		var t string
		var n int
		if err := rows.Scan(&t, &n); err != nil {
			rows.Close()
			return a, err
		}
		switch finding.Transition(t) {
		case finding.New:
			a.New = n
		case finding.Resolved:
			a.Resolved = n
		case finding.Regressed:
			a.Regressed = n
		case finding.Suppressed:
			a.Suppressed = n
		}
	}
	rows.Close()
	var days sql.NullFloat64
	if err := s.db.QueryRowContext(ctx, `SELECT AVG(`+s.daysBetween("f.first_seen", "e.at")+`)
		FROM finding_events e JOIN findings f ON f.id = e.finding_id
		WHERE e.transition = 'resolved' AND e.at >= ? AND e.at < ?`, ts(from), ts(to)).Scan(&days); err != nil {
		return a, err
	}
	a.MTTR = time.Duration(days.Float64 * 24 * float64(time.Hour))
	return a, nil
}

// FindingRow is a finding with the lifecycle fields a report shows.
type FindingRow struct {
	finding.Finding
	ResolvedAt  time.Time
	Regressions int
}

// EachFinding calls fn for every finding that was open at some time in
// [from, to): first seen before to, and still open, or seen or resolved on
// or after from. Rows stream from the database, ordered by kind and
// severity, so a million findings never sit in memory.
func (s *Store) EachFinding(ctx context.Context, from, to time.Time, fn func(*FindingRow) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT `+findingColumns+` FROM findings
		WHERE first_seen < ? AND (status != 'resolved' OR last_seen >= ? OR resolved_at >= ?)
		ORDER BY kind, CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END, id`,
		ts(to), ts(from), ts(from))
	if err != nil {
		return fmt.Errorf("read findings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r FindingRow
		if err := scanFinding(rows, &r); err != nil {
			return err
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return rows.Err()
}
