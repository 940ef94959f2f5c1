// Package runner executes scanners for one vigil run and stores each source's
// results as they arrive, so that a failure or a kill part way keeps whatever
// was already stored, and one failing source never stops the others.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/finding"
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
	// Last is set for the shard whose end ended every shard of its run:
	// Finalize comes next.
	Last bool
}

// Partial reports whether some source failed.
func (s Summary) Partial() bool { return len(s.Errors) > 0 }

// Options tune a run.
type Options struct {
	// LeaseTTL is how long the run's lease lives without renewal (default
	// store.DefaultLeaseTTL); the run renews it every third of that.
	LeaseTTL time.Duration
	// Shard, when set, makes this process one shard of a sharded run.
	Shard *Shard
}

// Shard names one shard of a sharded run: several processes (a Kubernetes
// Indexed Job's pods) share one run, named Key, each scanning the sources
// that hash to its index I of N, or, with Queue, the sources it claims
// first.
type Shard struct {
	Key  string
	I, N int
	// Queue: sources are claimed one at a time from the run's queue in the
	// database instead of divided by hash, so a huge source does not hold
	// up the sources behind it, and a dead shard's unfinished claim is
	// taken over.
	Queue bool
}

// claimer takes sources for one shard from the run's queue in the store.
type claimer struct {
	st    *store.Store
	runID string
	sh    Shard

	mu    sync.Mutex
	taken int
	err   error
	mine  map[string]bool // claimed by this process: never twice
}

func (c *claimer) Claim(ctx context.Context, src string) bool {
	c.mu.Lock()
	if c.mine[src] {
		c.mu.Unlock()
		return false
	}
	c.mu.Unlock()
	ok, err := c.st.Claim(context.WithoutCancel(ctx), c.runID, c.sh.Key, src, c.sh.I)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		// A claim that can't be made is a failing database: the shard
		// fails rather than silently leave the source to nobody.
		c.err = errors.Join(c.err, err)
		return false
	}
	if ok {
		c.taken++
		if c.mine == nil {
			c.mine = map[string]bool{}
		}
		c.mine[src] = true
	}
	return ok
}

// LockName is the lease every stored run holds.
const LockName = "run"

// Run begins a run in st, takes the run lease (renewed while it runs), runs
// the scanners one after the other and finishes the run. The returned error
// is for the run as a whole (lease held elsewhere or lost, database failing);
// source failures are in Summary.Errors. With opt.Shard, the process joins
// that sharded run instead and scans only its shard's sources; the run is
// finished by Finalize once every shard has ended (Summary.Last says this
// shard was the last).
func Run(ctx context.Context, st *store.Store, log *slog.Logger, command string, scs []scanners.Scanner, opt Options) (Summary, error) {
	if opt.Shard != nil {
		return runShard(ctx, st, log, command, scs, opt)
	}
	ss := newSession(st, log)
	runID, err := st.BeginRun(ctx, command)
	if err != nil {
		return ss.sum, err
	}
	ss.sum.RunID = runID
	ctx, release, err := st.Hold(ctx, LockName, runID, opt.LeaseTTL)
	if err != nil {
		_ = st.FinishRun(context.WithoutCancel(ctx), runID, store.RunFailed, map[string]any{"error": err.Error()})
		return ss.sum, err
	}
	defer release()
	ss.scan(ctx, scs)
	if err := st.FinishRun(context.WithoutCancel(ctx), runID, ss.sum.Status, ss.summary()); err != nil {
		return ss.sum, err
	}
	return ss.sum, ss.err(ctx)
}

// runShard is one shard of a sharded run.
func runShard(ctx context.Context, st *store.Store, log *slog.Logger, command string, scs []scanners.Scanner, opt Options) (Summary, error) {
	sh := opt.Shard
	ss := newSession(st, log)
	runID, err := st.JoinRun(ctx, sh.Key, command, sh.I, sh.N)
	if err != nil {
		return ss.sum, err
	}
	ss.sum.RunID = runID
	ctx, release, err := st.Hold(ctx, store.ShardLockName(sh.Key, sh.I), runID, opt.LeaseTTL)
	if err != nil {
		return ss.sum, err // another process runs this shard now
	}
	defer release()
	sctx := scanners.WithShard(ctx, scanners.Shard{I: sh.I, N: sh.N})
	if !sh.Queue {
		ss.scan(sctx, scs)
	} else {
		c := &claimer{st: st, runID: runID, sh: *sh}
		ss.done = func(ctx context.Context, src string) error { return st.ClaimDone(ctx, runID, src) }
		// Pass after pass: the first takes what no shard has; the next ones
		// take over what a dead shard claimed and never stored, until a
		// pass takes nothing.
		for pass := 0; ; pass++ {
			c.taken = 0
			ss.scan(scanners.WithClaimer(sctx, c), scs)
			if c.err != nil {
				ss.storeErr = errors.Join(ss.storeErr, c.err)
				ss.sum.Status = store.RunFailed
			}
			if c.taken == 0 || c.err != nil || ss.storeErr != nil || ctx.Err() != nil || pass > 100 {
				break
			}
		}
	}
	last, err := st.FinishShard(context.WithoutCancel(ctx), runID, sh.I, ss.sum.Status, ss.summary())
	if err != nil {
		return ss.sum, err
	}
	ss.sum.Last = last
	return ss.sum, ss.err(ctx)
}

// Finalize finishes the sharded run named key once every shard has ended:
// it runs scs (what needs every shard's sources stored: the inventory and
// its leak.live matching, IAM, the synthetic checks, the secret-scanning
// alerts) as the run's last step, then closes the run with the whole run's
// counts (every shard's and its own) and the worst status among them. A
// shard that failed leaves its sources unscanned, never resolved, and the
// run partial. It is run by the last shard to end, or by `vigil run
// --finalize` when that one died first.
func Finalize(ctx context.Context, st *store.Store, log *slog.Logger, key string, scs []scanners.Scanner, opt Options) (Summary, error) {
	ss := newSession(st, log)
	runID, shards, status, err := st.RunByKey(ctx, key)
	if err != nil {
		return ss.sum, err
	}
	ss.sum.RunID = runID
	if status != store.RunRunning {
		return ss.sum, fmt.Errorf("run %s is already finished (%s)", key, status)
	}
	shs, err := st.Shards(ctx, runID)
	if err != nil {
		return ss.sum, err
	}
	var missing []string
	ended := map[int]store.Shard{}
	for _, sh := range shs {
		if sh.Status != store.RunRunning {
			ended[sh.Shard] = sh
		}
	}
	for i := 0; i < shards; i++ {
		if _, ok := ended[i]; !ok {
			missing = append(missing, fmt.Sprint(i))
		}
	}
	if len(missing) > 0 {
		return ss.sum, fmt.Errorf("run %s: shard(s) %s of %d not ended yet", key, strings.Join(missing, ", "), shards)
	}
	ctx, release, err := st.Hold(ctx, "run:"+key+":final", runID, opt.LeaseTTL)
	if err != nil {
		return ss.sum, err
	}
	defer release()
	ss.scan(scanners.WithFinalizing(ctx), scs)
	// The whole run: every shard's counts and this step's.
	total := ss.summary()
	worst := ss.sum.Status
	perShard := map[string]any{}
	for i := 0; i < shards; i++ {
		sh := ended[i]
		perShard[fmt.Sprint(i)] = map[string]any{"status": sh.Status, "attempts": sh.Attempts}
		worst = worse(worst, sh.Status)
		for _, k := range []string{"new", "open", "resolved", "regressed", "sources", "errors", "commits", "files", "bytes"} {
			n, _ := sh.Summary[k].(float64)
			total[k] = asInt(total[k]) + int64(n)
		}
	}
	total["shards"] = perShard
	// What the run did to findings is counted from its events, not from
	// the shards' summaries: a shard killed half way stored findings its
	// summary never reported, and its retry saw them as still open.
	trans, err := st.Transitions(ctx, runID)
	if err != nil {
		return ss.sum, err
	}
	byKind := map[finding.Transition]int64{}
	for _, t := range trans {
		byKind[t]++
	}
	total["new"], total["resolved"], total["regressed"] = byKind[finding.New], byKind[finding.Resolved], byKind[finding.Regressed]
	ss.sum.Status = worst
	ss.sum.Counts.New, ss.sum.Counts.StillOpen = int(asInt(total["new"])), int(asInt(total["open"]))
	ss.sum.Counts.Resolved, ss.sum.Counts.Regressed = int(asInt(total["resolved"])), int(asInt(total["regressed"]))
	ss.sum.Sources = int(asInt(total["sources"]))
	ss.sum.Stats.Commits, ss.sum.Stats.Files, ss.sum.Stats.Bytes = asInt(total["commits"]), asInt(total["files"]), asInt(total["bytes"])
	if errs, err := st.RunErrors(ctx, runID); err == nil {
		for src, e := range errs {
			ss.sum.Errors[src] = e
		}
	}
	if worst != store.RunOK && len(ss.sum.Errors) == 0 {
		ss.sum.Errors["shards"] = "a shard ended " + worst
	}
	if err := st.FinishRun(context.WithoutCancel(ctx), runID, worst, total); err != nil {
		return ss.sum, err
	}
	return ss.sum, ss.err(ctx)
}

func asInt(v any) int64 {
	switch n := v.(type) {
	case int:
		return int64(n)
	case int64:
		return n
	case float64:
		return int64(n)
	}
	return 0
}

// worse is the worse of two run statuses: failed, then partial, then ok.
func worse(a, b string) string {
	rank := map[string]int{store.RunOK: 0, store.RunPartial: 1, store.RunFailed: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// session is one process's part of a run: it stores each source's result
// as it arrives and keeps the counts.
type session struct {
	st  *store.Store
	log *slog.Logger

	mu       sync.Mutex
	sum      Summary
	storeErr error
	// done, when set, is told each source stored (the queue's claims).
	done func(ctx context.Context, src string) error
}

func newSession(st *store.Store, log *slog.Logger) *session {
	return &session{st: st, log: log, sum: Summary{Errors: map[string]string{}, Notes: map[string]string{}, Started: time.Now()}}
}

// scan runs the scanners one after the other and sets the status.
func (ss *session) scan(ctx context.Context, scs []scanners.Scanner) {
	ctx = scanners.WithRunID(ctx, ss.sum.RunID)
	for _, sc := range scs {
		if err := sc.Scan(ctx, ss.st, func(r scanners.Result) { ss.emit(ctx, r) }); err != nil {
			ss.mu.Lock()
			ss.sum.Errors[sc.Name()] = err.Error()
			ss.mu.Unlock()
		}
	}
	ss.sum.Duration = time.Since(ss.sum.Started)
	ss.sum.Status = store.RunOK
	switch {
	case ss.storeErr != nil || ctx.Err() != nil:
		ss.sum.Status = store.RunFailed
	case len(ss.sum.Errors) > 0:
		ss.sum.Status = store.RunPartial
	}
}

// summary is the run record's summary of this session.
func (ss *session) summary() map[string]any {
	sum := ss.sum
	return map[string]any{
		"new": sum.Counts.New, "open": sum.Counts.StillOpen, "resolved": sum.Counts.Resolved, "regressed": sum.Counts.Regressed,
		"sources": sum.Sources, "errors": len(sum.Errors), "commits": sum.Stats.Commits, "files": sum.Stats.Files,
		"bytes": sum.Stats.Bytes, "duration_ms": sum.Duration.Milliseconds(), "notes": sum.Notes,
	}
}

// err is the session's error for the run as a whole.
func (ss *session) err(ctx context.Context) error {
	if ss.storeErr != nil {
		return ss.storeErr
	}
	if ctx.Err() != nil {
		if cause := context.Cause(ctx); cause != nil {
			return cause
		}
		return ctx.Err()
	}
	return nil // source failures are in sum.Errors; the run is partial
}

// markDone tells the queue a source is stored (caller holds ss.mu).
func (ss *session) markDone(ctx context.Context, src string) {
	if ss.done == nil {
		return
	}
	if err := ss.done(context.WithoutCancel(ctx), src); err != nil {
		ss.storeErr = errors.Join(ss.storeErr, err)
	}
}

// emit stores one source's result: its findings and state in one
// transaction.
func (ss *session) emit(ctx context.Context, r scanners.Result) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	st, log, sum, runID := ss.st, ss.log, &ss.sum, ss.sum.RunID
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
			ss.storeErr = errors.Join(ss.storeErr, err)
		}
	}
	if len(b.Findings) == 0 && b.Mode == store.Partial {
		ss.markDone(ctx, src) // attempted, and its failure recorded
		return
	}
	c, err := st.Apply(context.WithoutCancel(ctx), runID, b)
	if err != nil {
		ss.storeErr = errors.Join(ss.storeErr, err)
		sum.Errors[src] = err.Error()
		return
	}
	sum.Counts.Add(c)
	ss.markDone(ctx, src)
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
