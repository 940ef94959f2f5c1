package leaks

import (
	"sync"
	"sync/atomic"
)

// runQueue hands contiguous runs of a commit list to the workers that read
// them with `git log`, and keeps them all busy to the end: a worker that
// finds the queue empty asks the run with the most commits left to stop at
// its next commit and hand back the rest, which is cut in two and queued.
//
// Why: what a run costs cannot be known before git has diffed it. One
// commit list cut into equal runs left one git process reading alone for
// the last third of the scan of gitleaks' history, whose oldest eighth
// adds three quarters of its text.
type runQueue struct {
	mu     sync.Mutex
	wake   *sync.Cond
	queue  [][]string
	active map[*logRun]bool
}

// logRun is a run being read: the reader moves at as git's output reaches
// each commit (git log --no-walk=unsorted shows the commits in the order
// given, leaving out those it filters).
type logRun struct {
	commits []string
	at      atomic.Int64 // index in commits of the commit being read
	stop    atomic.Bool  // a worker is idle: hand back the rest at the next commit
	lost    atomic.Bool  // a commit git showed was not found in order: never cut
}

// minSplit is the fewest commits a run must have left to be cut: each cut
// starts two git processes, which read again delta bases the stopped one
// had resolved.
const minSplit = 16

func newRunQueue(runs [][]string) *runQueue {
	q := &runQueue{queue: runs, active: map[*logRun]bool{}}
	q.wake = sync.NewCond(&q.mu)
	return q
}

// next returns a run to read, waiting while other runs are read and might
// hand back commits; nil when every commit has been read (or handed out).
func (q *runQueue) next() *logRun {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if len(q.queue) > 0 {
			r := &logRun{commits: q.queue[0]}
			q.queue = q.queue[1:]
			q.active[r] = true
			return r
		}
		if len(q.active) == 0 {
			return nil
		}
		var longest *logRun
		for r := range q.active {
			if !r.lost.Load() && (longest == nil || r.left() > longest.left()) {
				longest = r
			}
		}
		if longest != nil && longest.left() >= 2*minSplit {
			longest.stop.Store(true)
		}
		q.wake.Wait()
	}
}

// left is how many commits of r are not read yet.
func (r *logRun) left() int { return len(r.commits) - int(r.at.Load()) }

// reached is called with each commit git's output starts; false means
// stop before it: the commits from it on are handed back (rest).
func (r *logRun) reached(sha string) bool {
	i := int(r.at.Load())
	for i < len(r.commits) && r.commits[i] != sha {
		i++
	}
	if i == len(r.commits) {
		r.lost.Store(true) // never expected; the run is then read whole
		return true
	}
	r.at.Store(int64(i))
	return r.lost.Load() || !r.stop.Load() || r.left() < 2*minSplit
}

// rest is what a stopped run hands back.
func (r *logRun) rest() []string { return r.commits[r.at.Load():] }

// done takes r off the active runs, and queues in two halves the commits
// it handed back (none when it was read to its end).
func (q *runQueue) done(r *logRun, rest []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.active, r)
	if len(rest) > 0 {
		q.queue = append(q.queue, chunk(rest, 2)...)
	}
	q.wake.Broadcast()
}
