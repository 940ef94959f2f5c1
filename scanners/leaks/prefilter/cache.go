package prefilter

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/vigilsec/vigil/internal/safefile"
)

// compileCached compiles exprs, or reads them compiled from cacheDir. A
// cache that cannot be read or written only costs the compilation: the
// filter is the same either way.
func compileCached(exprs, ids []string, cacheDir string) (matcher, error) {
	if cacheDir == "" {
		return compile(exprs, ids)
	}
	h := sha256.New()
	h.Write([]byte(engineVersion() + "\n" + strings.Join(exprs, "\n")))
	path := filepath.Join(cacheDir, "prefilter", hex.EncodeToString(h.Sum(nil))[:32]+".db")
	if b, err := os.ReadFile(path); err == nil {
		if m, err := unmarshal(b); err == nil {
			return m, nil
		}
	}
	m, err := compile(exprs, ids)
	if err != nil {
		return nil, err
	}
	if b, err := m.marshal(); err == nil && os.MkdirAll(filepath.Dir(path), 0o700) == nil {
		// Whole or not at all: a run that reads it meanwhile sees the old
		// file or none.
		_ = safefile.WriteAtomic(path, func(w io.Writer) error { _, err := w.Write(b); return err })
	}
	return m, nil
}
