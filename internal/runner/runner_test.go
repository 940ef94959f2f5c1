package runner

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/scanners"
)

// fake emits the results it is given, in order.
type fake struct {
	name    string
	results []scanners.Result
	err     error
	seen    func(ctx context.Context)
}

func (f *fake) Name() string { return f.name }

func (f *fake) Scan(ctx context.Context, _ scanners.StateReader, emit func(scanners.Result)) error {
	if f.seen != nil {
		f.seen(ctx)
	}
	for _, r := range f.results {
		emit(r)
	}
	return f.err
}

func leak(id, rule string) finding.Finding {
	return finding.Finding{ID: id, Kind: finding.KindLeakGit, Severity: finding.High, Scanner: "leaks", Resource: "repo:" + id,
		Title: id, Evidence: finding.Evidence{"rule": rule}}
}

var quiet = slog.New(slog.DiscardHandler)

func run(t *testing.T, st *store.Store, scs ...scanners.Scanner) Summary {
	t.Helper()
	sum, err := Run(context.Background(), st, quiet, "test", scs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// Full resolves what it did not see, Incremental keeps it open, Partial
// keeps everything as it was and does not move the state.
func TestModesDecideWhatIsResolved(t *testing.T) {
	st, _ := testenv.Store(t)
	ctx := context.Background()
	first := run(t, st, &fake{name: "leaks", results: []scanners.Result{
		{Source: scanners.Source{Scanner: "git", Name: "a"}, Findings: []finding.Finding{leak("a1", "r"), leak("a2", "r")}, State: "s1"},
	}})
	if first.Status != store.RunOK || first.Counts.New != 2 {
		t.Fatalf("first: %+v", first)
	}
	inc := run(t, st, &fake{name: "leaks", results: []scanners.Result{{Source: scanners.Source{Scanner: "git", Name: "a"}, Mode: scanners.Incremental, State: "s2"}}})
	if inc.Counts.StillOpen != 2 || inc.Counts.Resolved != 0 {
		t.Fatalf("incremental: %+v", inc.Counts)
	}
	part := run(t, st, &fake{name: "leaks", results: []scanners.Result{
		{Source: scanners.Source{Scanner: "git", Name: "a"}, Mode: scanners.Partial, State: "s3", Err: errors.New("clone failed"), Findings: []finding.Finding{leak("a3", "r")}},
	}})
	if part.Status != store.RunPartial || !part.Partial() || part.Counts.Resolved != 0 || part.Counts.New != 1 {
		t.Fatalf("partial: %+v", part)
	}
	if s, _ := st.ScanState(ctx, "git:a"); s != "s2" {
		t.Fatalf("a partial result moved the state to %q", s)
	}
	full := run(t, st, &fake{name: "leaks", results: []scanners.Result{{Source: scanners.Source{Scanner: "git", Name: "a"}, Findings: []finding.Finding{leak("a1", "r")}, State: "s4"}}})
	if full.Counts.Resolved != 2 || full.Counts.StillOpen != 1 {
		t.Fatalf("full: %+v", full.Counts)
	}
}

// One failing source never stops the others: the good one is stored, the
// bad one is recorded, and the run is partial.
func TestFailingSourceBesideAGoodOne(t *testing.T) {
	st, _ := testenv.Store(t)
	sum := run(t, st,
		&fake{name: "leaks", results: []scanners.Result{
			{Source: scanners.Source{Scanner: "git", Name: "bad"}, Mode: scanners.Partial, Err: errors.New("repository not found")},
			{Source: scanners.Source{Scanner: "git", Name: "good"}, Findings: []finding.Finding{leak("g1", "r")}, State: "s"},
		}},
		&fake{name: "iam", err: errors.New("no credentials")},
	)
	if sum.Status != store.RunPartial || sum.Counts.New != 1 || len(sum.Errors) != 2 {
		t.Fatalf("summary %+v", sum)
	}
	errs, _ := st.RunErrors(context.Background(), sum.RunID)
	if errs["git:bad"] != "repository not found" {
		t.Fatalf("recorded errors %v", errs)
	}
}

// Notes and findings resolved only by a rule change reach the summary.
func TestNotesAndRuleChangeResolutions(t *testing.T) {
	st, _ := testenv.Store(t)
	run(t, st, &fake{name: "leaks", results: []scanners.Result{
		{Source: scanners.Source{Scanner: "git", Name: "a"}, Findings: []finding.Finding{leak("a1", "kept"), leak("a2", "dropped")}, Rules: []string{"kept", "dropped"}},
	}})
	sum := run(t, st, &fake{name: "leaks", results: []scanners.Result{
		{Source: scanners.Source{Scanner: "git", Name: "a"}, Findings: []finding.Finding{leak("a1", "kept")}, Rules: []string{"kept"}, Note: "the rule set changed"},
	}})
	if sum.Counts.ResolvedByRuleChange != 1 || sum.Notes["git:a"] == "" {
		t.Fatalf("summary %+v", sum)
	}
}

// A live lease held by another run refuses the run, which is recorded as
// failed; the scanners never run.
func TestLeaseHeldElsewhere(t *testing.T) {
	st, _ := testenv.Store(t)
	if err := st.Lock(context.Background(), LockName, "other-run", time.Minute); err != nil {
		t.Fatal(err)
	}
	ran := false
	sum, err := Run(context.Background(), st, quiet, "test", []scanners.Scanner{&fake{name: "leaks", seen: func(context.Context) { ran = true }}}, Options{})
	if !errors.Is(err, store.ErrLocked) || ran {
		t.Fatalf("err %v, scanners ran: %v", err, ran)
	}
	runs, _ := st.Runs(context.Background(), time.Time{}, time.Time{})
	if len(runs) != 1 || runs[0].ID != sum.RunID || runs[0].Status != store.RunFailed {
		t.Fatalf("runs %+v", runs)
	}
}

// Scanners see the run id, and a cancelled run is failed with the cause.
func TestRunIDAndCancellation(t *testing.T) {
	st, _ := testenv.Store(t)
	ctx, cancel := context.WithCancel(context.Background())
	var seenID string
	sum, err := Run(ctx, st, quiet, "test", []scanners.Scanner{&fake{name: "leaks", seen: func(c context.Context) {
		seenID = scanners.RunID(c)
		cancel()
	}}}, Options{})
	if !errors.Is(err, context.Canceled) || sum.Status != store.RunFailed || seenID != sum.RunID {
		t.Fatalf("err %v status %s id %q/%q", err, sum.Status, seenID, sum.RunID)
	}
}

// owning emits a result for each of its sources that the shard owns.
type owning struct{ sources []string }

func (o *owning) Name() string { return "leaks" }

func (o *owning) Scan(ctx context.Context, _ scanners.StateReader, emit func(scanners.Result)) error {
	for _, s := range o.sources {
		src := scanners.Source{Scanner: "git", Name: s}
		if scanners.Owns(ctx, src) {
			emit(scanners.Result{Source: src, Findings: []finding.Finding{leak(s+"-1", "r")}})
		}
	}
	return nil
}

// The shards of a run divide its sources (each once), the run ends with
// its last shard, and a failed shard never ends it by itself: finished
// by hand, the run is failed and its counts are the whole run's.
func TestShardsDivideSourcesAndFinishOnce(t *testing.T) {
	st, _ := testenv.Store(t)
	ctx := context.Background()
	var srcs []string
	for i := 0; i < 40; i++ {
		srcs = append(srcs, string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	sc := &owning{sources: srcs}
	total := 0
	for i := 0; i < 3; i++ {
		sum, err := Run(ctx, st, quiet, "run", []scanners.Scanner{sc}, Options{Shard: &Shard{Key: "n1", I: i, N: 3}})
		if err != nil {
			t.Fatal(err)
		}
		total += sum.Sources
		if sum.Last != (i == 2) {
			t.Errorf("shard %d: last %v", i, sum.Last)
		}
	}
	if total != 40 {
		t.Fatalf("the shards scanned %d sources, want each of 40 once", total)
	}
	fin, err := Finalize(ctx, st, quiet, "n1", nil, Options{})
	if err != nil || fin.Status != store.RunOK || fin.Counts.New != 40 || fin.Sources != 40 {
		t.Fatalf("finalize: %v %+v", err, fin)
	}
	if _, err := Finalize(ctx, st, quiet, "n1", nil, Options{}); err == nil {
		t.Errorf("a finished run was finalized again")
	}

	// Night 2: shard 0 fails (its context is cancelled), shard 1 ends ok:
	// not last; --finalize ends the run failed.
	cctx, cancel := context.WithCancel(ctx)
	stopping := &fake{name: "leaks", seen: func(context.Context) { cancel() }}
	if sum, _ := Run(cctx, st, quiet, "run", []scanners.Scanner{stopping, sc}, Options{Shard: &Shard{Key: "n2", I: 0, N: 2}}); sum.Last || sum.Status != store.RunFailed {
		t.Errorf("a failed shard: status %s, last %v", sum.Status, sum.Last)
	}
	sum, err := Run(ctx, st, quiet, "run", []scanners.Scanner{sc}, Options{Shard: &Shard{Key: "n2", I: 1, N: 2}})
	if err != nil || sum.Last {
		t.Fatalf("shard 1 beside a failed shard 0: last %v, %v", sum.Last, err)
	}
	fin, err = Finalize(ctx, st, quiet, "n2", nil, Options{})
	if err != nil || fin.Status != store.RunFailed {
		t.Fatalf("finalize with a failed shard: %v %+v", err, fin.Status)
	}
}

// With the queue, a shard takes the sources nobody has, and the source a
// dead shard claimed and never stored; never one another live shard has,
// nor one stored.
func TestQueueTakesOverADeadShardsClaim(t *testing.T) {
	st, _ := testenv.Store(t)
	ctx := context.Background()
	srcs := []string{"a", "b", "c", "d", "e"}
	sc := &owning{sources: srcs}
	// Shard 0 joined, claimed git:a and git:b, stored b, and died (no lease).
	run0, err := st.JoinRun(ctx, "q1", "run", 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"git:a", "git:b"} {
		if ok, err := st.Claim(ctx, run0, "q1", s, 0); err != nil || !ok {
			t.Fatalf("claim %s: %v %v", s, ok, err)
		}
	}
	if err := st.ClaimDone(ctx, run0, "git:b"); err != nil {
		t.Fatal(err)
	}
	sum, err := Run(ctx, st, quiet, "run", []scanners.Scanner{sc}, Options{Shard: &Shard{Key: "q1", I: 1, N: 2, Queue: true}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sources != 4 {
		t.Errorf("shard 1 scanned %d sources, want a (taken over), c, d, e", sum.Sources)
	}
	log, _ := st.AuditLog(ctx)
	taken := 0
	for _, e := range log {
		if e.Action == "run.claim_taken_over" {
			taken++
		}
	}
	if taken != 1 {
		t.Errorf("%d takeovers audited, want 1 (git:a)", taken)
	}
	// Shard 0 is started again: nothing is left for it, and it ends the run.
	sum, err = Run(ctx, st, quiet, "run", []scanners.Scanner{sc}, Options{Shard: &Shard{Key: "q1", I: 0, N: 2, Queue: true}})
	if err != nil || sum.Sources != 0 || !sum.Last {
		t.Fatalf("shard 0 again: %d sources, last %v, %v", sum.Sources, sum.Last, err)
	}
}
