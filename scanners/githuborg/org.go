// Package githuborg scans every repository of a GitHub organisation for
// leaked secrets, night after night, at a cost that follows what changed:
// the listing is read with conditional requests (a page answered 304 costs
// no rate limit), each repository's ref tips are compared with the stored
// ones by one ls-remote before anything is fetched, and only new commits of
// changed repositories are fetched into a persistent bare mirror and scanned
// by the leaks engine (with its incremental and rewrite logic). Repositories
// are known by their GitHub id, so a rename keeps its findings; a deleted one
// keeps them too, and is reported as deleted rather than silently resolved.
// The organisation's secret-scanning alerts are imported beside vigil's own
// findings.
package githuborg

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners"
	"github.com/vigilsec/vigil/scanners/leaks"
)

// Org is one organisation to scan.
type Org struct {
	Name   string
	Client *Client
	Filter Filter
	// Alerts imports the organisation's secret-scanning alerts.
	Alerts bool
	// Workers is how many repositories are checked and scanned at once.
	Workers int
}

// Scanner scans organisations with the leaks scanner's engine.
type Scanner struct {
	Leaks    *leaks.Scanner
	Orgs     []Org
	Controls rules.Controls
	// Located finds vigil's stored leak findings by place, for matching
	// secret-scanning alerts (wiring reads them from the store).
	Located Located
	Log     *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time

	shared *leaks.SharedHistory
}

// Name implements scanners.Scanner.
func (s *Scanner) Name() string { return "github" }

// orgState is what the organisation's discovery source remembers.
type orgState struct {
	Version int              `json:"v"`
	Listing listing          `json:"listing"`
	Known   map[string]known `json:"known"` // repository id -> what was last seen
}

// SourceName is the source (and finding-id) name of a repository: its
// organisation and id, never its name, which a rename changes.
func SourceName(org string, id int64) string { return SourcePrefix(org) + strconv.FormatInt(id, 10) }

// mustID is a known map key as the id it is.
func mustID(id string) int64 {
	n, _ := strconv.ParseInt(id, 10, 64)
	return n
}

// SourcePrefix is what the source names of an organisation's repositories
// begin with.
func SourcePrefix(org string) string { return "github:" + org + "/" }

// Scan implements scanners.Scanner: per organisation, one discovery result,
// one result per repository, and one for its secret-scanning alerts.
func (s *Scanner) Scan(ctx context.Context, st scanners.StateReader, emit func(scanners.Result)) error {
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.shared == nil {
		s.shared = leaks.NewSharedHistory(filepath.Join(s.Leaks.CacheDir, "github", "shared-history.jsonl"))
	}
	for _, o := range s.Orgs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.scanOrg(ctx, st, o, emit)
	}
	return nil
}

func (s *Scanner) scanOrg(ctx context.Context, st scanners.StateReader, o Org, emit func(scanners.Result)) {
	if scanners.Finalizing(ctx) {
		// A sharded run's last step: every shard stored its repositories,
		// so the alerts can be matched against all of them.
		if o.Alerts {
			emit(s.readAlerts(ctx, o).result(ctx, s.Located))
		}
		return
	}
	src := scanners.Source{Scanner: "github", Name: o.Name}
	res := scanners.Result{Source: src, Mode: scanners.Full}
	var prev orgState
	if raw, err := st.ScanState(ctx, src.String()); err != nil {
		res.Mode, res.Err = scanners.Partial, fmt.Errorf("github %s: read scan state: %w", o.Name, err)
		emit(res)
		return
	} else if raw != "" {
		if err := json.Unmarshal([]byte(raw), &prev); err != nil {
			s.Log.Warn("unreadable organisation state; listing from scratch", "org", o.Name, "err", err)
			prev = orgState{}
		}
	}
	if prev.Known == nil {
		prev.Known = map[string]known{}
	}

	// The alerts are read before the repositories are scanned, so that a
	// finding vigil makes tonight at an alert's location carries it.
	var al *alertSet
	if o.Alerts {
		al = s.readAlerts(ctx, o)
	}

	cur, notModified, err := o.Client.list(ctx, o.Name, prev.Listing)
	complete := err == nil
	if !complete {
		// The repositories known from the last complete listing are still
		// scanned: one failing call must not cost the night's findings.
		res.Mode, res.Err = scanners.Partial, fmt.Errorf("github %s: %w", o.Name, err)
		cur = prev.Listing
	}
	next := orgState{Version: 1, Listing: cur, Known: map[string]known{}}
	listed := map[string]bool{}
	var todo []Repo
	skipped := map[string]int{}
	for _, p := range cur.Pages {
		for _, r := range p.Repos {
			id := strconv.FormatInt(r.ID, 10)
			if listed[id] {
				continue // a repository created while paging can shift one into two pages
			}
			listed[id] = true
			if ok, why := o.Filter.Wants(r); !ok {
				skipped[why]++
				continue
			}
			if k, ok := prev.Known[id]; ok && k.Name != r.FullName {
				s.Log.Info("repository renamed; its findings follow it", "org", o.Name, "id", id, "was", k.Name, "now", r.FullName)
			}
			next.Known[id] = known{Name: r.FullName}
			todo = append(todo, r)
		}
	}
	now := s.Now().UTC()
	for id, k := range prev.Known {
		if _, ok := next.Known[id]; ok {
			continue
		}
		if !complete || listed[id] {
			// Not listed because the listing failed, or now filtered out:
			// not deleted. A filtered-out repository is simply no longer
			// scanned; its findings stay as they are.
			if !complete {
				next.Known[id] = k
			}
			continue
		}
		if raw, err := st.ScanState(ctx, "git:"+SourceName(o.Name, mustID(id))); err == nil && raw == "" {
			continue // never stored: nothing of it to keep; forgotten
		}
		if k.Gone.IsZero() {
			k.Gone = now
			s.Log.Warn("repository no longer in the organisation; its findings are kept", "org", o.Name, "repo", k.Name)
		}
		next.Known[id] = k
		res.Findings = append(res.Findings, s.deletedFinding(o.Name, id, k))
	}
	res.Note = fmt.Sprintf("%d repositories listed (%d pages, %d unchanged since the last listing), %d to scan", len(listed), len(cur.Pages), notModified, len(todo))
	if len(skipped) > 0 {
		res.Note += fmt.Sprintf("; not scanned: %v", skipped)
	}
	b, _ := json.Marshal(next)
	res.State = string(b)
	// In a sharded run every shard lists the organisation (to know the
	// repositories it owns); one of them keeps the listing.
	if scanners.Owns(ctx, src) {
		emit(res)
	}

	progress := scanners.ProgressOrNop(s.Leaks.Progress)
	done := func(r Repo, rr scanners.Result) {
		if al != nil {
			al.annotate(r.ID, rr.Findings)
		}
		emit(rr)
		progress.Items("repositories checked", 1)
	}
	// Forks go after the others: the history a fork shares with its
	// parent has then been read once, in the parent, and the fork reads
	// only its own commits.
	var parents, forks []Repo
	for _, r := range todo {
		if !scanners.Owns(ctx, scanners.Source{Scanner: "git", Name: SourceName(o.Name, r.ID)}) {
			continue // another shard's
		}
		if r.Fork {
			forks = append(forks, r)
		} else {
			parents = append(parents, r)
		}
	}
	s.scanRepos(ctx, st, o, parents, done)
	s.scanRepos(ctx, st, o, forks, done)
	if al != nil && ctx.Err() == nil && !scanners.Sharded(ctx) {
		emit(al.result(ctx, s.Located)) // sharded: in the run's last step
	}
}

// scanRepos checks and scans repositories, o.Workers at a time. Each one is
// emitted as soon as it is done, so a run killed half way keeps what it
// finished and the next run starts at the repositories not yet stored.
func (s *Scanner) scanRepos(ctx context.Context, st scanners.StateReader, o Org, todo []Repo, done func(Repo, scanners.Result)) {
	workers := o.Workers
	if workers < 1 {
		workers = 1
	}
	jobs := make(chan Repo)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range jobs {
				done(r, s.Leaks.ScanGit(ctx, st, s.target(o, r)))
			}
		}()
	}
	for _, r := range todo {
		select {
		case jobs <- r:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
}

// target is the leaks scanner's view of a repository: known by id, shown
// by name, cloned with the organisation's credential (never in the URL),
// checked with ls-remote before any fetch.
func (s *Scanner) target(o Org, r Repo) leaks.GitTarget {
	clone := r.CloneURL
	if u, err := url.Parse(clone); err == nil {
		u.User = nil
		clone = u.String()
	}
	return leaks.GitTarget{
		Name:        SourceName(o.Name, r.ID),
		Repo:        r.FullName,
		URL:         clone,
		Password:    o.Client.Password,
		Mirror:      filepath.Join(s.Leaks.CacheDir, "github", o.Name, strconv.FormatInt(r.ID, 10)+".git"),
		CheckRemote: true,
		Shared:      s.shared,
	}
}

// deletedFinding marks a repository that left the organisation (deleted,
// or transferred away): its leak findings stay open, since a deleted
// repository's secrets live on in clones and forks and must be rotated.
func (s *Scanner) deletedFinding(org, id string, k known) finding.Finding {
	return finding.Finding{
		ID:       finding.Fingerprint(finding.KindLeakRepoDeleted, org, id),
		Kind:     finding.KindLeakRepoDeleted,
		Severity: finding.Low,
		Scanner:  "leaks",
		Resource: "repo:" + k.Name,
		Title:    fmt.Sprintf("Repository %s is no longer in %s; its leak findings are kept open", k.Name, org),
		Detail: fmt.Sprintf("%s was missing from the organisation's complete listing on %s (deleted, or transferred away). "+
			"Its findings are not resolved by its absence: the leaked values live on in clones and forks. Rotate them, then suppress the findings.",
			k.Name, k.Gone.Format(time.DateOnly)),
		Status:   finding.StatusOpen,
		Evidence: finding.Evidence{"repository_id": id, "repository": k.Name, "gone_since": k.Gone.Format(time.RFC3339)},
		Controls: s.Controls.For(finding.KindLeakRepoDeleted),
	}
}

// location is where a leak is, as an alert names it.
type location struct {
	Repo   int64
	Commit string
	Path   string
	Line   int
}

func (l location) key() string {
	return fmt.Sprintf("%d\x00%s\x00%s\x00%d", l.Repo, l.Commit, l.Path, l.Line)
}
