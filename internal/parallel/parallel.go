// Package parallel spreads independent work over the machine's cores.
package parallel

import (
	"runtime"
	"sync"
)

// minPerCore is the least work worth a goroutine of its own: below it, the
// goroutines cost more than they save.
const minPerCore = 256

// Each calls fn(i) for every i below n, on every core when n is large
// enough to pay for it, and returns when all calls have. fn must be safe to
// call concurrently, for different i.
//
// Why: storing or reading back a scan's findings spends most of its time
// encoding and decoding their JSON, one finding at a time, while the scan's
// other cores wait; it is the tail of every first scan.
func Each(n int, fn func(i int)) {
	w := min(runtime.GOMAXPROCS(0), n/minPerCore+1)
	var wg sync.WaitGroup
	for k := 0; k < w; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < n; i += w {
				fn(i)
			}
		}()
	}
	wg.Wait()
}
