package testenv

import (
	"context"
	"sync"
	"testing"

	"github.com/vigilsec/vigil/scanners"
)

// States is a scanners.StateReader that keeps what results say, as the
// store does: the state of every result that is not partial. Its zero value
// is ready.
type States struct {
	mu sync.Mutex
	m  map[string]string
}

// ScanState implements scanners.StateReader.
func (s *States) ScanState(_ context.Context, src string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[src], nil
}

// All returns every stored state (canary checks read them).
func (s *States) All() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for k, v := range s.m {
		out[k] = v
	}
	return out
}

// Scan runs sc once, keeps the states its results carry, and returns the
// results in the order they were emitted.
func (s *States) Scan(t testing.TB, sc scanners.Scanner) []scanners.Result {
	t.Helper()
	var mu sync.Mutex
	var out []scanners.Result
	err := sc.Scan(context.Background(), s, func(r scanners.Result) {
		mu.Lock()
		defer mu.Unlock()
		out = append(out, r)
		if r.State != "" && r.Mode != scanners.Partial {
			s.mu.Lock()
			if s.m == nil {
				s.m = map[string]string{}
			}
			s.m[r.Source.String()] = r.State
			s.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
