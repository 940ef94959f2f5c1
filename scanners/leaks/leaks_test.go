package leaks

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners"
)

// memState is a StateReader that keeps what results say, like the store does.
type memState struct {
	mu sync.Mutex
	m  map[string]string
}

func (m *memState) ScanState(_ context.Context, src string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m[src], nil
}

func newHasher(t *testing.T) *secrethash.Hasher {
	t.Helper()
	h, err := secrethash.New([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func newScanner(t *testing.T) *Scanner {
	t.Helper()
	eng, err := NewEngine("", "", newHasher(t), rules.DefaultControls())
	if err != nil {
		t.Fatal(err)
	}
	return &Scanner{Engine: eng, CacheDir: t.TempDir(), Log: slog.New(slog.DiscardHandler)}
}

// scan runs the scanner once and saves the states its results carry.
func scan(t *testing.T, s *Scanner, st *memState) []scanners.Result {
	t.Helper()
	if st.m == nil {
		st.m = map[string]string{}
	}
	var mu sync.Mutex
	var out []scanners.Result
	err := s.Scan(context.Background(), st, func(r scanners.Result) {
		mu.Lock()
		defer mu.Unlock()
		out = append(out, r)
		if r.State != "" && r.Mode != scanners.Partial {
			st.mu.Lock()
			st.m[r.Source.String()] = r.State
			st.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// hashes returns the secret hashes of findings, sorted.
func hashes(fs []finding.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Evidence["secret_hash"].(string))
	}
	sort.Strings(out)
	return out
}

func want(h *secrethash.Hasher, secrets ...string) []string {
	var out []string
	for _, s := range secrets {
		out = append(out, h.Hash(s))
	}
	sort.Strings(out)
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
