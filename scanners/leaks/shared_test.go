package leaks

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/scanners"
)

// TestSharedHistory: a clone that shares a repository's history reads only
// its own commits once the repository is recorded, with the shared
// findings made its own; a torn last line (a killed run) is ignored; a
// repository whose earlier history the cache never saw is not recorded (a
// third repository would otherwise skip commits whose findings it lacks);
// without the cache, everything is read again.
func TestSharedHistory(t *testing.T) {
	// A fixed history (testenv's commits have fixed dates and authors), so
	// that the marks (commits whose id starts with 0) are the same each run.
	r := testenv.NewRepo(t)
	base := "AKIAZ7KQ4TRN2XW5M3PL"
	for i := 0; i < 100; i++ {
		files := map[string]string{"f.txt": strings.Repeat("x", i+1)}
		if i == 50 {
			files["a.ini"] = awsLine(base)
		}
		r.Commit("c", files)
	}
	fork := testenv.NewRepo(t)
	fork.Git("pull", "-q", r.Dir, "main")
	own := testenv.FakeAWSKey()
	fork.Commit("own", map[string]string{"b.ini": awsLine(own)})
	// The parent moves on after the fork was made: its tips are not in the
	// fork, only the history before.
	r.Commit("parent moves on", map[string]string{"g.txt": "g"})

	cacheFile := filepath.Join(t.TempDir(), "shared.jsonl")
	sh := NewSharedHistory(cacheFile)
	s := newScanner(t)
	st := &memState{}
	s.Git = []GitTarget{{Name: "parent", Path: r.Dir, Shared: sh}}
	if res := only(t, st.Scan(t, s)); res.Stats.Commits != 101 || len(res.Findings) != 1 {
		t.Fatalf("parent: %d commits, %d findings", res.Stats.Commits, len(res.Findings))
	}

	// A torn record at the end, as a kill mid-write leaves it.
	f, _ := os.OpenFile(cacheFile, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"rules":"x","source":"torn","tips":["abc`)
	f.Close()

	s.Git = []GitTarget{{Name: "fork", Path: fork.Dir, Shared: NewSharedHistory(cacheFile)}}
	res := only(t, st.Scan(t, s))
	// Its own commit, and the few between the parent's last mark and the
	// fork point; not the 100 it shares.
	if res.Err != nil || res.Mode != scanners.Full || res.Stats.Commits < 1 || res.Stats.Commits > 20 || len(res.Findings) != 2 {
		t.Fatalf("fork: err %v mode %v, %d commits read (want its own and at most a few more), %d findings (want 2)", res.Err, res.Mode, res.Stats.Commits, len(res.Findings))
	}
	t.Logf("the fork read %d of its 101 commits", res.Stats.Commits)
	for _, f := range res.Findings {
		if f.Source != "git:fork" || f.Location.Repo != "fork" {
			t.Errorf("finding of the fork carries %s / %s", f.Source, f.Location.Repo)
		}
	}
	b, _ := os.ReadFile(cacheFile)
	for _, v := range []string{base, own} {
		if strings.Contains(string(b), v) {
			t.Errorf("the cache holds a value")
		}
	}

	// A repository scanned before the cache existed, then incrementally:
	// its tips must not be recorded.
	late := testenv.NewRepo(t)
	late.Commit("old", map[string]string{"c.ini": awsLine(testenv.FakeAWSKey())})
	s.Git = []GitTarget{{Name: "late", Path: late.Dir}}
	only(t, st.Scan(t, s))
	late.Commit("new", map[string]string{"d.txt": "d"})
	lsh := NewSharedHistory(cacheFile)
	s.Git = []GitTarget{{Name: "late", Path: late.Dir, Shared: lsh}}
	if res := only(t, st.Scan(t, s)); res.Mode != scanners.Incremental {
		t.Fatalf("late: mode %v", res.Mode)
	}
	if others := lsh.others("any", "", nil); len(others) != 0 {
		t.Errorf("unknown rule set has tips")
	}
	// Only repositories with a root in common are candidates: late's
	// history shares none with the parent's.
	lateRoots, err := rootCommits(context.Background(), late.Dir, []string{late.Git("rev-parse", "HEAD")})
	if err != nil || len(lateRoots) != 1 {
		t.Fatalf("roots of late: %v %v", lateRoots, err)
	}
	forkRoots, _ := rootCommits(context.Background(), fork.Dir, []string{fork.Git("rev-parse", "HEAD")})
	for fp := range lsh.rules {
		if o := lsh.others(fp, "x", lateRoots); len(o) != 0 {
			t.Errorf("a repository of another history is a candidate: %d commits", len(o))
		}
		if o := lsh.others(fp, "x", forkRoots); len(o) == 0 {
			t.Errorf("the parent is not a candidate for its fork")
		}
	}
	for fp := range lsh.rules {
		if _, ok := lsh.rules[fp].tips["late"]; ok {
			t.Errorf("late's tips were recorded though the cache never saw its first commits")
		}
	}

	// Without the cache, the fork is read whole again.
	os.Remove(cacheFile)
	st2 := &memState{}
	s.Git = []GitTarget{{Name: "fork", Path: fork.Dir, Shared: NewSharedHistory(cacheFile)}}
	if res := only(t, st2.Scan(t, s)); res.Stats.Commits != 101 || len(res.Findings) != 2 {
		t.Errorf("fork without the cache: %d commits, %d findings", res.Stats.Commits, len(res.Findings))
	}
}
