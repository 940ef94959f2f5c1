package gcpace

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// A small live heap is collected only once it has grown by the floor; a
// large one by the percentage; and the target follows the heap back down.
func TestFloorThenPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer Stop()
	Start(20, 64<<20)
	// The target is re-set by a finalizer, after a collection: collect
	// until it shows.
	settles := func(ok func(p int) bool) int {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; {
			runtime.GC()
			if p := Percent(); ok(p) || time.Now().After(deadline) {
				return p
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if p := settles(func(p int) bool { return p > 20 }); p <= 20 {
		t.Fatalf("on a small heap the percentage is %d, want the floor's (above 20)", p)
	}
	keep := make([][]byte, 0, 64)
	for i := 0; i < 64; i++ {
		keep = append(keep, make([]byte, 8<<20)) // 512 MiB live: 20% is past the floor
	}
	if p := settles(func(p int) bool { return p == 20 }); p != 20 {
		t.Fatalf("on a heap of 512 MiB the percentage is %d, want 20", p)
	}
	runtime.KeepAlive(keep)
	keep = nil
	if p := settles(func(p int) bool { return p > 20 }); p <= 20 {
		t.Fatalf("once the heap is small again the percentage is %d, want the floor's", p)
	}
}
