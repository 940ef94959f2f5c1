package leaks

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/zricethezav/gitleaks/v8/detect"
	"github.com/zricethezav/gitleaks/v8/sources"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/scanners"
)

// LogTarget is a set of log files given by globs.
type LogTarget struct {
	Name  string
	Paths []string
}

// logState is what a log file's scan remembers. The identity (device and
// inode) and a hash of the file's first bytes tell a file that only grew
// from one that was rotated, replaced, or truncated and written again.
type logState struct {
	Version int    `json:"v"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Offset  int64  `json:"offset"`         // bytes consumed (always at a line end)
	Lines   int    `json:"lines"`          // lines before Offset
	Head    string `json:"head,omitempty"` // sha256 of the first min(Offset, headBytes) bytes
	// For compressed files, which are read whole once: size and mtime.
	Size  int64 `json:"size,omitempty"`
	MTime int64 `json:"mtime,omitempty"`
}

const (
	headBytes = 4096
	// chunkBytes is the size of the fragments handed to gitleaks. Smaller
	// chunks trigger fewer keyword-gated regexes each; measured on generated
	// logs, 64 KiB beat 16 KiB, 256 KiB and 1 MiB (bench/README.md).
	chunkBytes = 64 << 10
	// quietPeriod: a last line with no newline is left for the next run while
	// the file was written within this period, since the writer may be half
	// way through it. An older unterminated line is scanned.
	quietPeriod = time.Minute
)

// logFiles expands a target's globs. A glob whose directory is missing is an
// error (most likely a typo); a glob that matches nothing in an existing
// directory is not (the service may not have logged yet).
func logFiles(t LogTarget) ([]string, []error) {
	seen := map[string]bool{}
	var out []string
	var errs []error
	for _, g := range t.Paths {
		if _, err := os.Stat(filepath.Dir(g)); err != nil {
			errs = append(errs, fmt.Errorf("logs %s: %s: %w", t.Name, g, err))
			continue
		}
		m, err := filepath.Glob(g)
		if err != nil {
			errs = append(errs, fmt.Errorf("logs %s: bad glob %s: %w", t.Name, g, err))
			continue
		}
		for _, p := range m {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	sort.Strings(out)
	return out, errs
}

func logSource(t LogTarget, path string) string { return "logs:" + t.Name + ":" + path }

// scanLog scans one log file from where the last run stopped.
func (s *Scanner) scanLog(ctx context.Context, st scanners.StateReader, t LogTarget, path string) scanners.Result {
	res := scanners.Result{Source: logSource(t, path), Mode: scanners.Full}
	fail := func(err error) scanners.Result {
		res.Mode, res.State = scanners.Partial, ""
		res.Err = fmt.Errorf("logs %s: %w", t.Name, err)
		return res
	}
	f, err := os.Open(path)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	if fi.IsDir() {
		return fail(fmt.Errorf("read %s: is a directory", path))
	}
	sys, _ := fi.Sys().(*syscall.Stat_t)
	var dev, ino uint64
	if sys != nil {
		dev, ino = uint64(sys.Dev), sys.Ino
	}
	var prev logState
	if raw, err := st.ScanState(ctx, res.Source); err != nil {
		return fail(fmt.Errorf("read scan state: %w", err))
	} else if raw != "" {
		_ = json.Unmarshal([]byte(raw), &prev)
	}
	d, err := s.Engine.detector(ctx, s.Engine.Rules)
	if err != nil {
		return fail(err)
	}
	tgt := target{kind: finding.KindLeakLog, source: res.Source, name: t.Name}
	collect := func() {
		for _, rf := range d.Findings() {
			res.Findings = append(res.Findings, s.Engine.convert(tgt, rf))
		}
	}

	if strings.HasSuffix(path, ".gz") {
		// Rotated, compressed logs don't change: read each once.
		if prev.Ino == ino && prev.Dev == dev && prev.Size == fi.Size() && prev.MTime == fi.ModTime().UnixNano() {
			res.Mode = scanners.Incremental
			return res
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fail(fmt.Errorf("read %s: %w", path, err))
		}
		n, _, _, err := s.Engine.scanStream(ctx, d, path, zr, 0, true)
		res.Stats = scanners.Stats{Files: 1, Bytes: n}
		s.Progress.Add(0, 1, 0)
		collect()
		if err != nil {
			return fail(fmt.Errorf("read %s: %w", path, err))
		}
		b, _ := json.Marshal(logState{Version: 1, Dev: dev, Ino: ino, Size: fi.Size(), MTime: fi.ModTime().UnixNano()})
		res.State = string(b)
		return res
	}

	start, lines := int64(0), 0
	if prev.Version == 1 && prev.Ino == ino && prev.Dev == dev && fi.Size() >= prev.Offset {
		if h, err := headHash(f, min(prev.Offset, headBytes)); err == nil && h == prev.Head {
			start, lines = prev.Offset, prev.Lines
			res.Mode = scanners.Incremental
		}
	}
	if prev.Version == 1 && res.Mode == scanners.Full {
		s.Log.Info("log file was rotated or truncated; reading it from the start", "file", path)
	}
	// Read up to the size seen now: a file still growing is finished next run.
	end := fi.Size()
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return fail(err)
	}
	takeTail := time.Since(fi.ModTime()) >= quietPeriod
	n, consumed, newLines, err := s.Engine.scanStream(ctx, d, path, io.LimitReader(f, end-start), lines, takeTail)
	res.Stats = scanners.Stats{Files: 1, Bytes: n}
	s.Progress.Add(0, 1, 0)
	collect()
	if err != nil {
		return fail(fmt.Errorf("read %s: %w", path, err))
	}
	ns := logState{Version: 1, Dev: dev, Ino: ino, Offset: start + consumed, Lines: lines + newLines}
	if ns.Head, err = headHash(f, min(ns.Offset, headBytes)); err != nil {
		return fail(err)
	}
	b, _ := json.Marshal(ns)
	res.State = string(b)
	return res
}

func headHash(f *os.File, n int64) (string, error) {
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	h := sha256.Sum256(buf)
	return hex.EncodeToString(h[:]), nil
}

// scanStream cuts r into line-aligned chunks, detects on them in parallel and
// returns the bytes read, the bytes consumed (up to the last newline, or all
// of it with takeTail), and the number of lines consumed. firstLine is the
// number of lines before r's start, so findings carry file line numbers.
func (e *Engine) scanStream(ctx context.Context, d *detect.Detector, path string, r io.Reader, firstLine int, takeTail bool) (read, consumed int64, lines int, err error) {
	buf := make([]byte, chunkBytes)
	var carry []byte
	err = e.fanout(ctx, d, func(yield func(sources.Fragment)) error {
		for {
			n, rerr := io.ReadFull(r, buf)
			read += int64(n)
			data := append(carry, buf[:n]...)
			carry = nil
			eof := errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF)
			if rerr != nil && !eof {
				return rerr
			}
			cut := bytes.LastIndexByte(data, '\n') + 1
			if eof && takeTail {
				cut = len(data)
			}
			if cut > 0 {
				chunk := string(data[:cut])
				nl := strings.Count(chunk, "\n")
				yield(sources.Fragment{FilePath: filepath.ToSlash(path), Raw: chunk, StartLine: firstLine + lines + 1})
				lines += nl
				consumed += int64(cut)
				if eof && cut == len(data) && !strings.HasSuffix(chunk, "\n") {
					lines++ // an unterminated last line is still a line
				}
			}
			// A line longer than a chunk is carried whole to the next read.
			carry = append([]byte(nil), data[cut:]...)
			if eof {
				return nil
			}
		}
	})
	return read, consumed, lines, err
}
