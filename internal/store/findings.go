package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/parallel"
	"github.com/vigilsec/vigil/internal/snapshot"
)

// Mode says what a batch of findings proves about the findings it lacks:
// the scanners' own result mode, stored as it is (see finding.Coverage).
type Mode = finding.Coverage

// The modes, as the store reads them.
const (
	Full        = finding.Full
	Incremental = finding.Incremental
	Partial     = finding.Partial
)

// Batch is everything one source produced in one run. It is stored in one
// transaction together with the source's new scan state.
type Batch struct {
	Source   string
	Mode     Mode
	Findings []finding.Finding
	// State is the scanner's new state for Source; empty leaves it as is.
	State string
	// Secrets is an inventory source's listing; with Mode Full it replaces
	// the source's snapshot for this month.
	Secrets []snapshot.Secret
	// Rules, when set, are the rule ids the source was scanned with. An
	// open finding of another rule that a Full batch resolves was not
	// looked for: it is counted in ResolvedByRuleChange and audited so.
	Rules []string
}

// Counts is what a batch did to the lifecycle.
type Counts struct {
	New, StillOpen, Regressed, Resolved int
	// ResolvedByRuleChange counts the resolved findings whose rule the
	// scan no longer had (part of Resolved).
	ResolvedByRuleChange int
}

// Add sums counts.
func (c *Counts) Add(o Counts) {
	c.New += o.New
	c.StillOpen += o.StillOpen
	c.Regressed += o.Regressed
	c.Resolved += o.Resolved
	c.ResolvedByRuleChange += o.ResolvedByRuleChange
}

// Apply stores a batch for a run and moves each finding through its lifecycle:
// unseen -> new; open -> still open; resolved -> regressed (open again);
// suppressed stays suppressed. With Mode Full, the source's open findings that
// the batch lacks are resolved.
func (s *Store) Apply(ctx context.Context, runID string, b Batch) (Counts, error) {
	var c Counts
	now := s.now()
	err := s.tx(ctx, func(tx *Tx) error {
		u, err := s.newUpserter(ctx, tx, runID, b.Source, len(b.Findings) > 0)
		if err != nil {
			return err
		}
		defer u.close()
		if err := u.prefetch(ctx, tx, b.Findings); err != nil {
			return err
		}
		enc := encodeAll(b.Findings)
		seen := make(map[string]bool, len(b.Findings))
		for i := range b.Findings {
			f := &b.Findings[i]
			if seen[f.ID] {
				continue // same problem reported twice in one scan (e.g. two decode passes)
			}
			seen[f.ID] = true
			t, err := u.upsert(ctx, f, enc[i])
			if err != nil {
				return fmt.Errorf("store finding %s: %w", f.ID, err)
			}
			if err := u.flushIfFull(ctx, tx); err != nil {
				return err
			}
			switch t {
			case finding.New:
				c.New++
			case finding.Regressed:
				c.Regressed++
			default:
				c.StillOpen++
			}
		}
		// New rows must be in before what was not seen is looked for.
		if err := u.flush(ctx, tx); err != nil {
			return err
		}
		switch b.Mode {
		case Full:
			resolved, byRule, err := s.resolveUnseen(ctx, tx, runID, b.Source, b.Rules)
			if err != nil {
				return err
			}
			c.Resolved, c.ResolvedByRuleChange = len(resolved), len(byRule)
			u.chained[finding.Resolved] = resolved
			if len(byRule) > 0 {
				u.chained["resolved_by_rule_change"] = byRule
			}
		case Incremental:
			res, err := tx.ExecContext(ctx, `UPDATE findings SET last_seen = ?, last_run_id = ?
				WHERE source = ? AND status = 'open' AND last_run_id != ?`, ts(now), runID, b.Source, runID)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			c.StillOpen += int(n)
		}
		if b.State != "" && b.Mode != Partial {
			if _, err := tx.ExecContext(ctx, `INSERT INTO scan_state(source, state, run_id, updated_at) VALUES (?, ?, ?, ?)
				ON CONFLICT(source) DO UPDATE SET state = excluded.state, run_id = excluded.run_id, updated_at = excluded.updated_at`,
				b.Source, b.State, runID, ts(now)); err != nil {
				return err
			}
		}
		if b.Mode == Full && b.Secrets != nil {
			if err := s.saveSnapshot(ctx, tx, runID, b.Source, now, b.Secrets); err != nil {
				return err
			}
		}
		mode := [...]string{"full", "incremental", "partial"}[b.Mode]
		// Every status change of a finding is in the chain, so that a status
		// edited in the findings table is caught by `vigil audit verify`.
		return s.appendAudit(ctx, tx, "scan.stored", b.Source, map[string]any{
			"run": runID, "mode": mode, "new": c.New, "open": c.StillOpen, "regressed": c.Regressed, "resolved": c.Resolved,
			"transitions": u.chained,
		})
	})
	if err != nil {
		return Counts{}, fmt.Errorf("store results of %s: %w", b.Source, err)
	}
	return c, nil
}

// upserter stores the findings of one batch. It loads the source's known
// findings in one query and reuses prepared statements, because a first
// scan of a large history stores thousands of findings at once.
type upserter struct {
	s                  *Store
	runID, source, now string
	known              map[string]knownRow
	upd, lookup        *sql.Stmt
	// touch are findings seen again unchanged: only their last run moves,
	// many ids a statement.
	touch []any
	// chained are the ids each transition moved, for the audit row.
	chained map[finding.Transition][]string
	// prefetched: every id of the batch not in known is new (prefetch
	// looked them all up at once).
	prefetched bool
	// rows and events wait to be written many to a statement (flush): on
	// PostgreSQL every statement is a round trip.
	rows, events [][]any
}

// knownRow is what the upserter knows of a stored finding: its status,
// first run, and a digest of what a scan sets (to tell "seen again,
// unchanged" from "changed").
type knownRow struct{ status, firstRun, digest string }

// knownCols are read with every known row, in digest's order.
const knownCols = `id, status, first_run_id, source, severity, resource, title, detail, evidence, controls, location`

func scanKnown(rows *sql.Rows) (string, knownRow, error) {
	var id, st, fr, src, sev, res, title, detail, ev, ctl string
	var loc []byte
	if err := rows.Scan(&id, &st, &fr, &src, &sev, &res, &title, &detail, &ev, &ctl, &loc); err != nil {
		return "", knownRow{}, err
	}
	return id, knownRow{st, fr, digest(src, sev, res, title, detail, ev, ctl, loc)}, nil
}

// digest is a hash of a finding's stored content, the same from the
// columns read back as from the values about to be written.
func digest(src, sev, res, title, detail, ev, ctl string, loc []byte) string {
	h := sha256.New()
	for _, v := range []string{src, sev, res, title, detail, ev, ctl, string(loc)} {
		fmt.Fprintf(h, "%d:%s", len(v), v)
	}
	return string(h.Sum(nil))
}

// Rows per multi-row statement: well under both engines' parameter limits
// (SQLite 32,766; PostgreSQL 65,535) at 15 and 4 columns.
const (
	rowsPerInsert   = 500
	eventsPerInsert = 1000
)

func (u *upserter) flushIfFull(ctx context.Context, tx *Tx) error {
	if len(u.rows) >= rowsPerInsert || len(u.events) >= eventsPerInsert {
		return u.flush(ctx, tx)
	}
	return nil
}

// flush writes the waiting new findings, then their events.
func (u *upserter) flush(ctx context.Context, tx *Tx) error {
	if err := insertMany(ctx, tx, `INSERT INTO findings(id, kind, severity, scanner, source, resource, title, detail, status,
		first_seen, last_seen, first_run_id, last_run_id, evidence, controls, location) VALUES `, "", u.rows); err != nil {
		return err
	}
	u.rows = u.rows[:0]
	if err := insertMany(ctx, tx, `INSERT INTO finding_events(run_id, finding_id, transition, at) VALUES `,
		` ON CONFLICT(run_id, finding_id) DO UPDATE SET transition = excluded.transition`, u.events); err != nil {
		return err
	}
	u.events = u.events[:0]
	for len(u.touch) > 0 {
		n := min(len(u.touch), prefetchChunk)
		args := append([]any{u.now, u.runID}, u.touch[:n]...)
		if _, err := tx.ExecContext(ctx, `UPDATE findings SET last_seen = ?, last_run_id = ? WHERE id IN (?`+
			strings.Repeat(", ?", n-1)+`)`, args...); err != nil {
			return err
		}
		u.touch = u.touch[n:]
	}
	return nil
}

// insertMany runs head VALUES (...), (...) ... tail over rows, one statement.
func insertMany(ctx context.Context, tx *Tx, head, tail string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	one := "(?" + strings.Repeat(", ?", len(rows[0])-1) + ")"
	var b strings.Builder
	args := make([]any, 0, len(rows)*len(rows[0]))
	b.WriteString(head)
	for i, r := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(one)
		args = append(args, r...)
	}
	b.WriteString(tail)
	_, err := tx.ExecContext(ctx, b.String(), args...)
	return err
}

// prefetchChunk keeps an IN list well under both engines' limits on
// parameters (SQLite's 32,766; PostgreSQL's 65,535).
const prefetchChunk = 500

// prefetch looks up, a chunk at a time, the batch's ids not among the
// source's known findings (a finding first stored under another source:
// a repository renamed in the config). One query per chunk instead of one
// per finding: on PostgreSQL every statement is a round trip.
func (u *upserter) prefetch(ctx context.Context, tx *Tx, fs []finding.Finding) error {
	var ids []any
	asked := map[string]bool{}
	for i := range fs {
		if _, ok := u.known[fs[i].ID]; !ok && !asked[fs[i].ID] {
			asked[fs[i].ID] = true
			ids = append(ids, fs[i].ID)
		}
	}
	for len(ids) > 0 {
		n := min(len(ids), prefetchChunk)
		rows, err := tx.QueryContext(ctx, `SELECT `+knownCols+` FROM findings WHERE id IN (?`+
			strings.Repeat(", ?", n-1)+`)`, ids[:n]...)
		if err != nil {
			return err
		}
		for rows.Next() {
			id, k, err := scanKnown(rows)
			if err != nil {
				rows.Close()
				return err
			}
			u.known[id] = k
		}
		if err := rows.Close(); err != nil {
			return err
		}
		ids = ids[n:]
	}
	u.prefetched = true
	return nil
}

// newUpserter prepares the batch's statements. The source's known findings
// are read only for a batch that has findings
// (withFindings): a night with nothing new has none to compare, and a
// source with thousands of open findings would read them all for nothing.
func (s *Store) newUpserter(ctx context.Context, tx *Tx, runID, source string, withFindings bool) (*upserter, error) {
	u := &upserter{s: s, runID: runID, source: source, now: ts(s.now()), known: map[string]knownRow{},
		chained: map[finding.Transition][]string{}}
	if withFindings {
		rows, err := tx.QueryContext(ctx, `SELECT `+knownCols+` FROM findings WHERE source = ?`, source)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			id, k, err := scanKnown(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			u.known[id] = k
		}
		rows.Close()
	}
	var err error
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = tx.PrepareContext(ctx, q)
		return st
	}
	// The source moves with the finding: one stored first under another
	// source (a repository renamed in the config, a CI name-only finding
	// that was an account's) is then resolved only with its new source.
	u.upd = prep(`UPDATE findings SET source = ?, severity = ?, resource = ?, title = ?, detail = ?, status = ?,
		last_seen = ?, last_run_id = ?, evidence = ?, controls = ?, location = ?, regressions = regressions + ?,
		resolved_at = CASE WHEN ? = 1 THEN NULL ELSE resolved_at END,
		resolved_run_id = CASE WHEN ? = 1 THEN NULL ELSE resolved_run_id END
		WHERE id = ?`)
	// A finding id seen first under another source (a repository renamed
	// in the config) is looked up by id.
	u.lookup = prep(`SELECT ` + knownCols + ` FROM findings WHERE id = ?`)
	if err != nil {
		u.close()
		return nil, err
	}
	return u, nil
}

func (u *upserter) close() {
	for _, st := range []*sql.Stmt{u.upd, u.lookup} {
		if st != nil {
			st.Close()
		}
	}
}

func (u *upserter) upsert(ctx context.Context, f *finding.Finding, enc encodedJSON) (finding.Transition, error) {
	if enc.err != nil {
		return "", enc.err
	}
	ev, ctl, loc := enc.ev, enc.ctl, enc.loc
	k, ok := u.known[f.ID]
	if !ok && !u.prefetched {
		rows, err := u.lookup.QueryContext(ctx, f.ID)
		if err != nil {
			return "", err
		}
		if rows.Next() {
			_, k, err = scanKnown(rows)
			ok = err == nil
		}
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", err
		}
	}
	if !ok {
		u.rows = append(u.rows, []any{f.ID, string(f.Kind), string(f.Severity), f.Scanner, u.source, f.Resource, f.Title, f.Detail,
			string(finding.StatusOpen), u.now, u.now, u.runID, u.runID, ev, ctl, nullBytes(loc)})
		u.known[f.ID] = knownRow{string(finding.StatusOpen), u.runID, ""}
		u.chained[finding.New] = append(u.chained[finding.New], f.ID)
		u.events = append(u.events, []any{u.runID, f.ID, string(finding.New), u.now})
		return finding.New, nil
	}
	t := finding.StillOpen
	newStatus := k.status
	regress := 0
	switch {
	case k.status == string(finding.StatusResolved):
		t, newStatus, regress = finding.Regressed, string(finding.StatusOpen), 1
	case k.firstRun == u.runID:
		t = finding.New
	}
	if regress == 0 && k.digest == digest(u.source, string(f.Severity), f.Resource, f.Title, f.Detail, ev, ctl, loc) {
		// Seen again as it was: only its last run moves (flush, before
		// anything unseen is resolved).
		u.touch = append(u.touch, f.ID)
		return t, nil
	}
	if _, err := u.upd.ExecContext(ctx, u.source, string(f.Severity), f.Resource, f.Title, f.Detail, newStatus, u.now, u.runID,
		ev, ctl, nullBytes(loc), regress, regress, regress, f.ID); err != nil {
		return "", err
	}
	if t == finding.Regressed {
		u.known[f.ID] = knownRow{newStatus, k.firstRun, ""}
		u.chained[finding.Regressed] = append(u.chained[finding.Regressed], f.ID)
		u.events = append(u.events, []any{u.runID, f.ID, string(t), u.now})
	}
	return t, nil
}

// resolveUnseen resolves the source's open findings that runID did not see.
// With rules given, those whose rule is not among them are returned a second
// time in byRule: nothing looked for them, so they are gone by a rule change.
func (s *Store) resolveUnseen(ctx context.Context, tx *Tx, runID, source string, rules []string) (ids, byRule []string, err error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, COALESCE(`+s.jsonText("evidence", "rule")+`, '') FROM findings
		WHERE source = ? AND status = 'open' AND last_run_id != ? ORDER BY id`, source, runID)
	if err != nil {
		return nil, nil, err
	}
	have := map[string]bool{}
	for _, r := range rules {
		have[r] = true
	}
	for rows.Next() {
		var id, rule string
		if err := rows.Scan(&id, &rule); err != nil {
			rows.Close()
			return nil, nil, err
		}
		ids = append(ids, id)
		if len(rules) > 0 && rule != "" && !have[rule] {
			byRule = append(byRule, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if len(ids) == 0 {
		return nil, nil, nil
	}
	// One statement for all of them, by the predicate that selected them:
	// the write transaction holds the store's write lock, so nothing
	// changed in between. Then their events, many rows a statement.
	now := ts(s.now())
	if _, err := tx.ExecContext(ctx, `UPDATE findings SET status = 'resolved', resolved_at = ?, resolved_run_id = ?
		WHERE source = ? AND status = 'open' AND last_run_id != ?`, now, runID, source, runID); err != nil {
		return nil, nil, err
	}
	events := make([][]any, len(ids))
	for i, id := range ids {
		events[i] = []any{runID, id, string(finding.Resolved), now}
	}
	if err := insertMany(ctx, tx, `INSERT INTO finding_events(run_id, finding_id, transition, at) VALUES `,
		` ON CONFLICT(run_id, finding_id) DO UPDATE SET transition = excluded.transition`, events); err != nil {
		return nil, nil, err
	}
	return ids, byRule, nil
}

func (s *Store) event(ctx context.Context, tx *Tx, runID, id string, t finding.Transition) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO finding_events(run_id, finding_id, transition, at) VALUES (?, ?, ?, ?)
		ON CONFLICT(run_id, finding_id) DO UPDATE SET transition = excluded.transition`, runID, id, string(t), ts(s.now()))
	return err
}

// Filter selects findings. Empty fields match everything.
type Filter struct {
	Status []string
	Kind   []finding.Kind
	Source string
	// SourcePrefix selects the sources whose key starts with it
	// ("git:github:acme/": every repository of an organisation).
	SourcePrefix string
	IDs          []string
	// RunID selects the findings a run saw (last_run_id).
	RunID string
}

// Findings returns the findings that match f, most severe first.
func (s *Store) Findings(ctx context.Context, f Filter) ([]finding.Finding, error) {
	q := `SELECT ` + findingColumns + ` FROM findings WHERE 1=1`
	var args []any
	in := func(col string, vals []string) {
		if len(vals) == 0 {
			return
		}
		q += " AND " + col + " IN (" + strings.TrimSuffix(strings.Repeat("?,", len(vals)), ",") + ")"
		for _, v := range vals {
			args = append(args, v)
		}
	}
	in("status", f.Status)
	in("kind", finding.Strings(f.Kind...))
	in("id", f.IDs)
	if f.Source != "" {
		q += " AND source = ?"
		args = append(args, f.Source)
	}
	if f.SourcePrefix != "" {
		// substr, not LIKE: a prefix's _ and % are not wildcards.
		q += " AND substr(source, 1, length(?)) = ?"
		args = append(args, f.SourcePrefix, f.SourcePrefix)
	}
	if f.RunID != "" {
		q += " AND last_run_id = ?"
		args = append(args, f.RunID)
	}
	q += ` ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END, kind, resource, id`
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list findings: %w", err)
	}
	defer rows.Close()
	var (
		out []finding.Finding
		js  []findingJSON
	)
	for rows.Next() {
		var r FindingRow
		var j findingJSON
		if err := scanFindingColumns(rows, &r, &j); err != nil {
			return nil, err
		}
		out = append(out, r.Finding)
		js = append(js, j)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	decodeAll(out, js)
	return out, nil
}

// decodeAll decodes the JSON columns of findings read, on every core: they
// are most of what reading findings costs (a scan's report reads them all
// back; on gitleaks' history, 1,689 findings, 45-65 ms in one goroutine).
func decodeAll(fs []finding.Finding, js []findingJSON) {
	parallel.Each(len(fs), func(i int) { js[i].decode(&fs[i]) })
}

// encodedJSON is a finding's JSON columns as they are written.
type encodedJSON struct {
	ev, ctl string
	loc     []byte
	err     error
}

// encodeAll encodes the JSON columns of the findings about to be stored,
// on every core, before the write transaction: a first scan of gitleaks'
// history stores 1,689 findings, and encoding their evidence was half of
// what storing them cost, on one core while the other waited.
func encodeAll(fs []finding.Finding) []encodedJSON {
	out := make([]encodedJSON, len(fs))
	parallel.Each(len(fs), func(i int) { out[i] = encodeJSON(&fs[i]) })
	return out
}

func encodeJSON(f *finding.Finding) (e encodedJSON) {
	ev, err := json.Marshal(f.Evidence)
	if err != nil {
		return encodedJSON{err: err}
	}
	ctl, err := json.Marshal(nonNil(f.Controls))
	if err != nil {
		return encodedJSON{err: err}
	}
	if f.Location != nil {
		if e.loc, err = json.Marshal(f.Location); err != nil {
			return encodedJSON{err: err}
		}
	}
	e.ev, e.ctl = string(ev), string(ctl)
	return e
}

// findingColumns are the columns scanFinding reads, in its order.
const findingColumns = `id, kind, severity, scanner, source, resource, title, detail, status, first_seen, last_seen,
	last_run_id, evidence, controls, location, resolved_at, regressions`

func scanFinding(rows *sql.Rows, r *FindingRow) error {
	var j findingJSON
	if err := scanFindingColumns(rows, r, &j); err != nil {
		return err
	}
	j.decode(&r.Finding)
	return nil
}

// findingJSON holds a finding's JSON columns as read, not yet decoded.
type findingJSON struct {
	ev, ctl string
	loc     sql.NullString
}

// scanFindingColumns reads findingColumns into r, and its JSON columns
// into j.
func scanFindingColumns(rows *sql.Rows, r *FindingRow, j *findingJSON) error {
	var sev, status string
	var first, last, resolved sql.NullString
	if err := rows.Scan(&r.ID, &r.Kind, &sev, &r.Scanner, &r.Source, &r.Resource, &r.Title, &r.Detail, &status,
		&first, &last, &r.RunID, &j.ev, &j.ctl, &j.loc, &resolved, &r.Regressions); err != nil {
		return err
	}
	r.Severity, r.Status = finding.Severity(sev), finding.Status(status)
	r.FirstSeen, r.LastSeen, r.ResolvedAt = parseTS(first), parseTS(last), parseTS(resolved)
	return nil
}

// decode sets f's Evidence, Controls and Location from j.
func (j *findingJSON) decode(f *finding.Finding) {
	_ = json.Unmarshal([]byte(j.ev), &f.Evidence)
	_ = json.Unmarshal([]byte(j.ctl), &f.Controls)
	if j.loc.Valid {
		f.Location = &finding.Location{}
		_ = json.Unmarshal([]byte(j.loc.String), f.Location)
	}
}

// Transitions returns what a run did to findings: id -> new/resolved/regressed.
// Findings absent from the map that are open were already open before it.
func (s *Store) Transitions(ctx context.Context, runID string) (map[string]finding.Transition, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT finding_id, transition FROM finding_events WHERE run_id = ?`, runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]finding.Transition{}
	for rows.Next() {
		var id, t string
		if err := rows.Scan(&id, &t); err != nil {
			return nil, err
		}
		out[id] = finding.Transition(t)
	}
	return out, rows.Err()
}

// Suppress marks findings as accepted risk; later scans keep them suppressed.
// The reason goes to the audit chain.
func (s *Store) Suppress(ctx context.Context, ids []string, reason string) error {
	return s.tx(ctx, func(tx *Tx) error {
		for _, id := range ids {
			var prev string
			if err := tx.QueryRowContext(ctx, `SELECT status FROM findings WHERE id = ?`, id).Scan(&prev); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("no finding %s", id)
				}
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE findings SET status = 'suppressed' WHERE id = ?`, id); err != nil {
				return err
			}
			// An open finding stops counting as open: an event, so that the
			// monthly history of open findings sees it go.
			if prev == string(finding.StatusOpen) {
				if err := s.event(ctx, tx, "suppress:"+ts(s.now()), id, finding.Suppressed); err != nil {
					return err
				}
			}
			if err := s.appendAudit(ctx, tx, "finding.suppress", "finding:"+id, map[string]any{"reason": reason}); err != nil {
				return err
			}
		}
		return nil
	})
}

// nonNil makes a nil slice empty, so it is stored as JSON [] rather than null.
func nonNil[S ~[]E, E any](s S) S {
	if s == nil {
		return S{}
	}
	return s
}

func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}
