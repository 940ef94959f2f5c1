// Package gcpace sets when the garbage collector runs during a scan: once
// the heap has grown by a percentage of what the last collection left live,
// as GOGC says, but never by less than a fixed number of bytes.
//
// Why: a scan's live heap is small and its garbage is everything it reads.
// A low GOGC keeps its peak under the gitleaks CLI's, but on a heap of 10 MB
// (a directory scan) 20% is 2 MB: Go's source tree took 450 collections in
// 2 s, a sixth of the CPU, and each one's phase changes kept the workers
// waiting. A floor keeps the collections a small heap needs few, while a
// large heap is still held to the percentage.
package gcpace

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// maxPercent bounds the GC percentage the floor can ask for (on an almost
// empty heap the floor alone would ask for thousands).
const maxPercent = 1000

var (
	mu      sync.Mutex
	percent int
	floor   uint64
	current int
	running atomic.Bool
	sample  = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
)

// Start sets the target: collect once the heap has grown by pct percent of
// the live heap, or by min bytes, whichever is more. It is re-set after
// every collection, from what that collection left live.
func Start(pct int, min uint64) {
	mu.Lock()
	percent, floor = pct, min
	mu.Unlock()
	adjust()
	if running.CompareAndSwap(false, true) {
		arm()
	}
}

// Stop leaves the percentage as it is and follows the collections no more.
func Stop() { running.Store(false) }

// sentinel is garbage as soon as it is made: its finalizer runs once per
// collection, which is when the target is re-set. (16 bytes or more, so
// that it is not combined with other tiny objects.)
type sentinel struct{ _ [16]byte }

func arm() {
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
		if running.Load() {
			adjust()
			arm()
		}
	})
}

// adjust sets the GC percentage from the live heap.
func adjust() {
	mu.Lock()
	defer mu.Unlock()
	metrics.Read(sample)
	p := percent
	if live := sample[0].Value.Uint64(); live > 0 {
		if need := floor * 100 / live; need > uint64(p) {
			p = int(min(need, maxPercent))
		}
	}
	if p != current {
		current = p
		debug.SetGCPercent(p)
	}
}

// Percent is the GC percentage set last (for tests).
func Percent() int {
	mu.Lock()
	defer mu.Unlock()
	return current
}
