package testenv

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/store"
)

// Store opens a fresh SQLite store in a temporary directory, keyed with a
// fixed test key, closed when the test ends.
func Store(t testing.TB) (*store.Store, *secrethash.Hasher) {
	t.Helper()
	h, err := secrethash.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "vigil.db"), h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, h
}
