package scanners

import (
	"sync"
	"testing"
)

// The progress line names every kind of long work, in the order it began,
// and counts from many goroutines at once.
func TestCounterDescribesEveryUnit(t *testing.T) {
	var c Counter
	c.Add(3, 2, 100)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); c.Items("secrets listed", 1) }()
	}
	wg.Wait()
	c.Items("identities checked", 2)
	if got := c.Describe(); got != "3 commits, 2 files, 50 secrets listed, 2 identities checked" {
		t.Fatalf("%q", got)
	}
	var p Progress = Nop{}
	p.Items("x", 1)
	if ProgressOrNop(nil) == nil {
		t.Fatal("nil progress")
	}
}
