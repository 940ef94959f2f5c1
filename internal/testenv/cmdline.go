package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// WatchCmdlines samples every process's argument list (/proc/*/cmdline,
// which any user can read) until stop is called, and fails the test if
// one of secrets appears in one.
func WatchCmdlines(t testing.TB, secrets ...string) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	var seen, samples int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
			samples++
			ms, _ := filepath.Glob("/proc/[0-9]*/cmdline")
			for _, m := range ms {
				b, err := os.ReadFile(m)
				if err != nil {
					continue
				}
				for _, s := range secrets {
					if strings.Contains(string(b), s) {
						seen++
					}
				}
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		if seen > 0 {
			t.Errorf("a secret was on a command line %d times", seen)
		}
		if samples < 10 {
			t.Errorf("only %d samples of the process table", samples)
		}
	}
}
