package files

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/stores"
	"github.com/vigilsec/vigil/stores/storetest"
)

// The store conformance suite against a real directory of .env files.
func TestConformance(t *testing.T) {
	dir := t.TempDir()
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T, h stores.Hasher) stores.Store {
			return &Store{Root: dir, Env: []string{"env/*.env"}, Hasher: h}
		},
		Seed: func(t *testing.T, name, value string) string {
			os.MkdirAll(filepath.Join(dir, "env"), 0o755)
			key := strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_PASSWORD"
			if err := os.WriteFile(filepath.Join(dir, "env", name+".env"), []byte(key+"="+value+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return "file:env/" + name + ".env#" + key
		},
		Broken: func(t *testing.T) stores.Store {
			return &Store{Root: dir, Env: []string{"no-such-dir/*.env"}}
		},
	})
}
