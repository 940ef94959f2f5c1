// Package safefile opens files that a configuration names by glob (log
// files, .env files, manifests) the way an unattended job must: only
// regular files, without ever blocking on a FIFO or a device, and without
// following a symlink out of the directory the glob names; and writes
// files (reports, caches) whole or not at all.
package safefile

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Open opens a file for reading only if it is a regular file. The open
// itself does not block (O_NONBLOCK: a FIFO put in place after a glob was
// expanded would otherwise wait for a writer forever), and the type is
// checked on the opened file, not on the name.
func Open(p string) (*os.File, os.FileInfo, error) {
	fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	f := os.NewFile(uintptr(fd), p)
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("read %s: not a regular file (%s)", p, fi.Mode().Type())
	}
	return f, fi, nil
}

// ReadFile is os.ReadFile through Open.
func ReadFile(p string) ([]byte, error) {
	f, _, err := Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// Check decides whether a path that glob g matched may be read: a regular
// file, reached either directly or through a symlink that stays inside the
// glob's base directory (any symlink when follow is set). FIFOs, sockets,
// devices and directories are skipped quietly (quiet is true); a symlink out of the
// directory is skipped with a reason worth a warning.
func Check(g, p string, follow bool) (skip string, quiet bool, err error) {
	lfi, err := os.Lstat(p)
	if err != nil {
		return "", false, err
	}
	if lfi.Mode()&fs.ModeSymlink != 0 && !follow {
		base, _ := filepath.EvalSymlinks(Base(g))
		target, err := filepath.EvalSymlinks(p)
		if err != nil || !within(base, target) {
			return "a symlink that leads out of its glob's directory", false, nil
		}
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", false, err
	}
	if !fi.Mode().IsRegular() {
		return "not a regular file (" + fi.Mode().Type().String() + ")", true, nil
	}
	return "", false, nil
}

// Base is the directory part of a glob before its first pattern
// character: what the glob may not lead out of.
func Base(g string) string {
	dir := filepath.Dir(g)
	for dir != "/" && dir != "." && strings.ContainsAny(dir, `*?[\`) {
		dir = filepath.Dir(dir)
	}
	return dir
}

// within reports whether p is base or below it.
func within(base, p string) bool {
	rel, err := filepath.Rel(base, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// Glob expands a configuration's globs (relative ones against root) into
// the files that may be read, sorted and each once: regular files, and no
// symlink out of its glob's directory (Check). A glob whose directory is
// missing is an error, not an empty match: it is a typo or a missing mount,
// and a listing without it is not complete. Errors name paths relative to
// root.
func Glob(root string, patterns []string) ([]string, error) {
	rel := func(p string) string {
		if r, err := filepath.Rel(root, p); err == nil && root != "" && !strings.HasPrefix(r, "..") {
			return filepath.ToSlash(r)
		}
		return filepath.ToSlash(p)
	}
	var out []string
	seen := map[string]bool{}
	for _, g := range patterns {
		if !filepath.IsAbs(g) {
			g = filepath.Join(root, g)
		}
		if _, err := os.Stat(Base(g)); err != nil {
			return nil, fmt.Errorf("%s: %w", rel(g), err)
		}
		m, err := filepath.Glob(g)
		if err != nil {
			return nil, fmt.Errorf("bad glob %q: %w", g, err)
		}
		for _, p := range m {
			if seen[p] {
				continue
			}
			seen[p] = true
			// A FIFO would block the run, a link could make vigil read
			// (and report on) any file on the host.
			if why, _, err := Check(g, p, false); err != nil || why != "" {
				continue
			}
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}

// WriteAtomic writes path whole or not at all: fn writes to a temporary
// file beside it (buffered: a template writes a few bytes at a time), which
// is renamed over path only once written and closed. A reader (a CI upload
// step, a concurrent run) sees the old file or the new one, never half.
func WriteAtomic(path string, fn func(io.Writer) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(tmp, 64<<10)
	err = fn(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
