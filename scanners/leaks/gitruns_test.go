package leaks

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zricethezav/gitleaks/v8/sources"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/scanners"
)

// A worker that finds the queue empty asks the run with the most commits
// left to stop; the commits it hands back are queued in two halves, and
// every commit is read exactly once.
func TestIdleWorkerTakesHalfOfTheLongestRun(t *testing.T) {
	var commits []string
	for i := 0; i < 100; i++ {
		commits = append(commits, fmt.Sprintf("%040d", i))
	}
	q := newRunQueue([][]string{commits[:90], commits[90:]})
	long, short := q.next(), q.next()
	got := make(chan *logRun)
	go func() { got <- q.next() }() // the idle worker
	for !long.stop.Load() {
		time.Sleep(time.Millisecond)
	}
	if short.stop.Load() {
		t.Fatal("the shorter run was asked to stop")
	}
	var read []string
	for _, c := range long.commits {
		if !long.reached(c) {
			break
		}
		read = append(read, c)
	}
	if len(read) != 0 {
		t.Fatalf("read %d commits of a run asked to stop before its first", len(read))
	}
	// Stopped at its first commit: all 90 are handed back, in two halves.
	q.done(long, long.rest())
	thief := <-got
	again := q.next()
	for _, r := range []*logRun{short, thief, again} {
		for _, c := range r.commits {
			if !r.reached(c) {
				t.Fatalf("a run stopped with no worker idle")
			}
			read = append(read, c)
		}
		q.done(r, nil)
	}
	if q.next() != nil {
		t.Fatal("next returned a run after every commit was read")
	}
	slices.Sort(read)
	if !slices.Equal(read, commits) {
		t.Fatalf("read %d commits, want each of %d once", len(read), len(commits))
	}
	if len(thief.commits) != 45 || len(again.commits) != 45 {
		t.Fatalf("halves of %d and %d commits, want 45 and 45", len(thief.commits), len(again.commits))
	}
}

// A run stopped halfway hands back exactly the commits git had not begun
// to show; reading them in two more git processes yields, fragment for
// fragment, what one process reading the whole run yields.
func TestStoppedRunHandsBackWhatItDidNotRead(t *testing.T) {
	r := testenv.NewRepo(t)
	for i := 0; i < 80; i++ {
		files := map[string]string{fmt.Sprintf("f%d.txt", i%7): fmt.Sprintf("line %d\n", i)}
		if i%9 == 0 {
			files["gone.txt"] = "" // some commits only delete: git log leaves them out
		}
		r.Commit(fmt.Sprintf("c%d", i), files)
		if i%9 == 0 {
			r.Git("rm", "-q", "gone.txt")
			r.Commit(fmt.Sprintf("d%d", i), nil)
		}
	}
	commits, err := listCommits(context.Background(), r.Dir, []string{strings.TrimSpace(r.Git("rev-parse", "HEAD"))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := func(f sources.Fragment) string { return f.CommitSHA + " " + f.FilePath + " " + f.Raw }
	read := func(run *logRun, stopAfter int) ([]string, scanners.Stats, []string) {
		var got []string
		st, rest, err := streamGitLog(ctx, r.Dir, run, scanners.Nop{}, func(f sources.Fragment) {
			got = append(got, key(f))
			if len(got) == stopAfter {
				run.stop.Store(true)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return got, st, rest
	}
	whole, wholeStats, _ := read(&logRun{commits: commits}, -1)

	q := newRunQueue([][]string{commits})
	first := q.next()
	split, st, rest := read(first, 30)
	if len(rest) == 0 || len(rest) >= len(commits) || rest[0] != first.commits[len(commits)-len(rest)] {
		t.Fatalf("handed back %d of %d commits", len(rest), len(commits))
	}
	q.done(first, rest)
	for run := q.next(); run != nil; run = q.next() {
		got, more, back := read(run, -1)
		if len(back) > 0 {
			t.Fatalf("a run with no worker idle handed back %d commits", len(back))
		}
		split = append(split, got...)
		st.Commits += more.Commits
		st.Files += more.Files
		st.Bytes += more.Bytes
		q.done(run, nil)
	}
	slices.Sort(whole)
	slices.Sort(split)
	if !slices.Equal(whole, split) {
		t.Fatalf("split read %d fragments, whole read %d; not the same", len(split), len(whole))
	}
	if st != wholeStats {
		t.Fatalf("split stats %+v, whole %+v", st, wholeStats)
	}
}
