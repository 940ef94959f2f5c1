// Package scanners defines what every vigil scanner is: something that reads
// sources and emits findings, one Result per source, so that one failing
// source never stops or loses the others.
package scanners

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/snapshot"
)

// Scanner reads its sources and calls emit once per source. Scan returns only
// when every source has been emitted; emit may be called from several
// goroutines at once and must be safe for that. A source that fails is
// emitted with Err set (and whatever it found before failing); Scan itself
// returns an error only for a problem that stops the whole scanner (its rules
// can't be loaded), in which case no source was scanned.
type Scanner interface {
	// Name is the scanner's name as it appears in findings ("leaks").
	Name() string
	Scan(ctx context.Context, state StateReader, emit func(Result)) error
}

// StateReader gives a scanner the state it stored for a source in an earlier
// run (see Result.State).
type StateReader interface {
	ScanState(ctx context.Context, source string) (string, error)
}

// Mode says what a result proves about findings it does not contain (see
// finding.Coverage: one type, which the store keeps as it is).
type Mode = finding.Coverage

// The modes, as scanners name them.
const (
	Full        = finding.Full
	Incremental = finding.Incremental
	Partial     = finding.Partial
)

// Source identifies what one Result covers: a repository, a directory, a
// log file, a store, an account, an identity. Its String form is the key the
// store files the source's findings and state under, the same every run.
type Source struct {
	Scanner string // git, dir, logs, inventory, iam, synthetic, lint
	Name    string // the configured name: repository, log set, store, account, identity
	Part    string // one part of Name scanned on its own (a log file); "" for the whole
}

// String is the source's key: "git:payments", "logs:app:/var/log/app.log".
func (s Source) String() string {
	if s.Part == "" {
		return s.Scanner + ":" + s.Name
	}
	return s.Scanner + ":" + s.Name + ":" + s.Part
}

// Result is what one source produced.
type Result struct {
	Source   Source
	Mode     Mode
	Findings []finding.Finding
	// State is saved with the findings, atomically, and handed back on the
	// next run. Empty keeps the previous state.
	State string
	// Err is set when the source could not be read (completely).
	Err error
	// Note says why the source was read the way it was, for the run log
	// and summary: "rules changed since the last scan: full rescan".
	Note string
	// Rules are the ids of the detection rules the source was scanned
	// with (leak sources). A finding whose rule is not among them was not
	// looked for, so resolving it is reported as a rule change, not a fix.
	Rules []string
	Stats Stats
	// Secrets is what an inventory source listed (never values), kept as
	// the month's inventory snapshot when the listing is complete.
	Secrets []snapshot.Secret
}

// Stats counts what a source read, for progress and for benchmarks.
type Stats struct {
	Commits, Files, Bytes int64
	// Fetches counts clones and fetches from a remote (a URL target's
	// mirror update): a night with no change has none.
	Fetches int64
}

// Progress receives counts while scanning. Implementations must be safe for
// concurrent use; Nop discards them.
type Progress interface {
	Add(commits, files, bytes int64)
	// Items counts the other long work, by unit: "secrets listed",
	// "principals read", "identities checked".
	Items(unit string, n int64)
}

// Nop is a Progress that discards.
type Nop struct{}

// Add does nothing.
func (Nop) Add(int64, int64, int64) {}

// Items does nothing.
func (Nop) Items(string, int64) {}

// Counter is a Progress that only counts; the CLI wraps it in a bar.
type Counter struct {
	Commits, Files, Bytes atomic.Int64
	mu                    sync.Mutex
	items                 map[string]int64
	units                 []string // in the order first seen
}

// Add adds to the counts.
func (c *Counter) Add(commits, files, bytes int64) {
	c.Commits.Add(commits)
	c.Files.Add(files)
	c.Bytes.Add(bytes)
}

// Items adds n to unit's count.
func (c *Counter) Items(unit string, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items == nil {
		c.items = map[string]int64{}
	}
	if _, ok := c.items[unit]; !ok {
		c.units = append(c.units, unit)
	}
	c.items[unit] += n
}

// Describe is the counts in words, for a progress line: "12 commits, 40
// files, 1200 secrets listed".
func (c *Counter) Describe() string {
	parts := []string{fmt.Sprintf("%d commits, %d files", c.Commits.Load(), c.Files.Load())}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range c.units {
		parts = append(parts, fmt.Sprintf("%d %s", c.items[u], u))
	}
	return strings.Join(parts, ", ")
}

// ProgressOrNop returns p, or Nop when p is nil.
func ProgressOrNop(p Progress) Progress {
	if p == nil {
		return Nop{}
	}
	return p
}

type runIDKey struct{}

// WithRunID returns ctx carrying the id of the run being executed, for
// scanners that mark what they create with it (the synthetic scanner tags
// its credentials with the run).
func WithRunID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, runIDKey{}, id)
}

// RunID returns the run id carried by ctx, or "".
func RunID(ctx context.Context) string {
	id, _ := ctx.Value(runIDKey{}).(string)
	return id
}

// Shard is the part of a sharded run one process scans: the sources whose
// key hashes to I of N. A source is always scanned whole by one shard, so
// a Full result still proves what it proves.
type Shard struct{ I, N int }

type shardKey struct{}

// WithShard returns ctx for scanning shard sh of a run's sources.
func WithShard(ctx context.Context, sh Shard) context.Context {
	return context.WithValue(ctx, shardKey{}, sh)
}

// Claimer takes sources from a sharded run's queue: Claim reports whether
// this process now has src (no other shard has it, or the one that had it
// died). It is safe for concurrent use.
type Claimer interface {
	Claim(ctx context.Context, src string) bool
}

type claimerKey struct{}

// WithClaimer returns ctx whose sources are taken from c's queue rather
// than divided by hash.
func WithClaimer(ctx context.Context, c Claimer) context.Context {
	return context.WithValue(ctx, claimerKey{}, c)
}

// Owns says whether this process scans src: always, unless the run is
// sharded; then when it claims src from the run's queue (WithClaimer), or
// else when the source's key hashes (FNV-1a) to this shard. Call it once
// per source, just before scanning it: a claim is taken for good.
func Owns(ctx context.Context, src Source) bool {
	if c, ok := ctx.Value(claimerKey{}).(Claimer); ok {
		return c.Claim(ctx, src.String())
	}
	sh, ok := ctx.Value(shardKey{}).(Shard)
	if !ok || sh.N <= 1 {
		return true
	}
	h := fnv.New32a()
	h.Write([]byte(src.String()))
	return int(h.Sum32()%uint32(sh.N)) == sh.I
}

// Sharded says whether ctx scans one shard of a run.
func Sharded(ctx context.Context) bool {
	sh, ok := ctx.Value(shardKey{}).(Shard)
	return ok && sh.N > 1
}

type finalKey struct{}

// WithFinalizing returns ctx for a sharded run's last step, after every
// shard stored its sources: what needs all of them (secret-scanning alerts
// matched against every repository's findings) is done then.
func WithFinalizing(ctx context.Context) context.Context {
	return context.WithValue(ctx, finalKey{}, true)
}

// Finalizing says whether ctx is a sharded run's last step.
func Finalizing(ctx context.Context) bool {
	v, _ := ctx.Value(finalKey{}).(bool)
	return v
}
