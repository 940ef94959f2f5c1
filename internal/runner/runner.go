// Package runner executes scanners for one vigil run and stores each source's
// results as they arrive, so that a failure or a kill part way keeps whatever
// was already stored, and one failing source never stops the others.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/scanners"
)

// Summary is the outcome of a run.
type Summary struct {
	RunID   string
	Status  string // store.RunOK, RunPartial or RunFailed
	Counts  store.Counts
	Stats   scanners.Stats
	Sources int
	Errors  map[string]string // source -> error
	// Notes say why a source was scanned the way it was (a full rescan
	// because the rules changed, a shallow clone), source -> note.
	Notes    map[string]string
	Started  time.Time
	Duration time.Duration
}

// Partial reports whether some source failed.
func (s Summary) Partial() bool { return len(s.Errors) > 0 }

// Options tune a run.
type Options struct {
	// LeaseTTL is how long the run's lease lives without renewal (default
	// store.DefaultLeaseTTL); the run renews it every third of that.
	LeaseTTL time.Duration
}

// LockName is the lease every stored run holds.
const LockName = "run"

// Run begins a run in st, takes the run lease (renewed while it runs), runs
// the scanners one after the other and finishes the run. The returned error
// is for the run as a whole (lease held elsewhere or lost, database failing);
// source failures are in Summary.Errors.
func Run(ctx context.Context, st *store.Store, log *slog.Logger, command string, scs []scanners.Scanner, opt Options) (Summary, error) {
	sum := Summary{Errors: map[string]string{}, Notes: map[string]string{}, Started: time.Now()}
	runID, err := st.BeginRun(ctx, command)
	if err != nil {
		return sum, err
	}
	sum.RunID = runID
	ctx, release, err := st.Hold(ctx, LockName, runID, opt.LeaseTTL)
	if err != nil {
		_ = st.FinishRun(context.WithoutCancel(ctx), runID, store.RunFailed, map[string]any{"error": err.Error()})
		return sum, err
	}
	defer release()

	var (
		mu       sync.Mutex
		storeErr error
	)
	emit := func(r scanners.Result) {
		mu.Lock()
		defer mu.Unlock()
		src := r.Source.String()
		sum.Sources++
		sum.Stats.Commits += r.Stats.Commits
		sum.Stats.Files += r.Stats.Files
		sum.Stats.Bytes += r.Stats.Bytes
		b := store.Batch{Source: src, Mode: r.Mode, Findings: r.Findings, State: r.State, Secrets: r.Secrets, Rules: r.Rules}
		if b.Mode == store.Partial {
			b.State = ""
		}
		if r.Note != "" {
			sum.Notes[src] = r.Note
			log.Warn(r.Note, "source", src)
		}
		if r.Err != nil {
			sum.Errors[src] = r.Err.Error()
			log.Error("source failed; the others go on", "source", src, "err", r.Err)
			if err := st.RecordError(context.WithoutCancel(ctx), runID, src, r.Err); err != nil {
				storeErr = errors.Join(storeErr, err)
			}
		}
		if len(b.Findings) == 0 && b.Mode == store.Partial {
			return
		}
		c, err := st.Apply(context.WithoutCancel(ctx), runID, b)
		if err != nil {
			storeErr = errors.Join(storeErr, err)
			sum.Errors[src] = err.Error()
			return
		}
		sum.Counts.Add(c)
		if c.ResolvedByRuleChange > 0 {
			note := fmt.Sprintf("%d finding(s) resolved only because their rules are no longer in the rule set", c.ResolvedByRuleChange)
			if n := sum.Notes[src]; n != "" {
				note = n + "; " + note
			}
			sum.Notes[src] = note
			log.Warn("findings resolved by a rule change, not by a fix", "source", src, "count", c.ResolvedByRuleChange)
		}
		log.Debug("stored", "source", src, "new", c.New, "open", c.StillOpen, "resolved", c.Resolved, "regressed", c.Regressed,
			"commits", r.Stats.Commits, "files", r.Stats.Files, "bytes", r.Stats.Bytes)
	}
	var scanErr error
	ctx = scanners.WithRunID(ctx, runID)
	for _, sc := range scs {
		if err := sc.Scan(ctx, st, emit); err != nil {
			scanErr = errors.Join(scanErr, fmt.Errorf("%s: %w", sc.Name(), err))
			mu.Lock()
			sum.Errors[sc.Name()] = err.Error()
			mu.Unlock()
		}
	}
	sum.Duration = time.Since(sum.Started)
	sum.Status = store.RunOK
	switch {
	case storeErr != nil || ctx.Err() != nil:
		sum.Status = store.RunFailed
	case len(sum.Errors) > 0:
		sum.Status = store.RunPartial
	}
	if err := st.FinishRun(context.WithoutCancel(ctx), runID, sum.Status, map[string]any{
		"new": sum.Counts.New, "open": sum.Counts.StillOpen, "resolved": sum.Counts.Resolved, "regressed": sum.Counts.Regressed,
		"sources": sum.Sources, "errors": len(sum.Errors), "commits": sum.Stats.Commits, "files": sum.Stats.Files,
		"bytes": sum.Stats.Bytes, "duration_ms": sum.Duration.Milliseconds(), "notes": sum.Notes,
	}); err != nil {
		return sum, err
	}
	if storeErr != nil {
		return sum, storeErr
	}
	if ctx.Err() != nil {
		if cause := context.Cause(ctx); cause != nil {
			return sum, cause
		}
		return sum, ctx.Err()
	}
	_ = scanErr // recorded per scanner in sum.Errors; the run is partial
	return sum, nil
}
