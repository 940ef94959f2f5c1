package leaks

import (
	"log/slog"
	"sort"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners"
)

// memState keeps what results say, like the store does.
type memState = testenv.States

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
	return st.Scan(t, s)
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
