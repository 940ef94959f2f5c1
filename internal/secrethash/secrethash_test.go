package secrethash

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadCreatesPrivateKeyOnceAndReusesIt(t *testing.T) {
	t.Setenv(EnvKey, "")
	p := filepath.Join(t.TempDir(), "sub", "vigil.key")
	h1, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", fi.Mode(), err)
	}
	h2, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if h1.Hash("x") != h2.Hash("x") {
		t.Fatal("key changed between loads")
	}
	os.Chmod(p, 0o644)
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key accepted: %v", err)
	}
}

func TestEnvKeyWinsAndKeysSeparateHashes(t *testing.T) {
	t.Setenv(EnvKey, strings.Repeat("ab", 32))
	h, err := Load(filepath.Join(t.TempDir(), "unused.key"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := New([]byte(strings.Repeat("z", 32)))
	if h.Hash("hunter2") == other.Hash("hunter2") {
		t.Fatal("different keys, same hash")
	}
	if h.Hash("a") == h.Hash("b") || len(h.Hash("a")) != 64 {
		t.Fatal("hash is not a 256-bit HMAC")
	}
	if _, err := New([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestRedactNeverRevealsMuch(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "****"},
		{"abc", "****"},
		{"1234567", "*******"},
		{"12345678", "1****8"},
		{"AKIAQYLPMN5HFIQR7XYZ", "AKI****XYZ"},
		{"ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_****6789"},
	} {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if len(tc.in) >= 8 && strings.Contains(Redact(tc.in), tc.in) {
			t.Errorf("redaction of %q contains it", tc.in)
		}
	}
}

// Two first runs creating the key at once end up with the same, whole key.
func TestConcurrentKeyCreationYieldsOneKey(t *testing.T) {
	t.Setenv(EnvKey, "")
	for i := 0; i < 20; i++ {
		p := filepath.Join(t.TempDir(), "k", "vigil.key")
		var wg sync.WaitGroup
		hs := make([]*Hasher, 8)
		errs := make([]error, 8)
		for j := range hs {
			wg.Add(1)
			go func(j int) { defer wg.Done(); hs[j], errs[j] = Load(p) }(j)
		}
		wg.Wait()
		for j := range hs {
			if errs[j] != nil {
				t.Fatalf("load %d: %v", j, errs[j])
			}
			if hs[j].Hash("x") != hs[0].Hash("x") {
				t.Fatal("two keys were created")
			}
		}
	}
}
