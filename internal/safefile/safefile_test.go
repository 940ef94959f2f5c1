package safefile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// WriteAtomic replaces a file only with what was written whole: a writer
// that fails leaves the old file and no temporary one beside it.
func TestWriteAtomicWholeOrNothing(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "report.json")
	write := func(s string, fail error) error {
		return WriteAtomic(p, func(w io.Writer) error {
			if _, err := io.WriteString(w, s); err != nil {
				return err
			}
			return fail
		})
	}
	if err := write("first", nil); err != nil {
		t.Fatal(err)
	}
	if err := write("half", errors.New("renderer failed")); err == nil {
		t.Fatal("a failed write reported success")
	}
	if b, _ := os.ReadFile(p); string(b) != "first" {
		t.Fatalf("file holds %q after a failed write", b)
	}
	if es, _ := os.ReadDir(filepath.Dir(p)); len(es) != 1 {
		t.Fatalf("%d entries beside the report: a temporary file was left", len(es))
	}
}
