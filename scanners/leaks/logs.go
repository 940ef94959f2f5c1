package leaks

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/zricethezav/gitleaks/v8/sources"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/safefile"
	"github.com/vigilsec/vigil/scanners"
)

// LogTarget is a set of log files given by globs.
type LogTarget struct {
	Name  string
	Paths []string
	// FollowSymlinks lets a matched symlink lead out of its glob's base
	// directory. Off, such a link is skipped with a warning: a link in a
	// log directory must not turn the scan into a read of /etc/shadow.
	FollowSymlinks bool
}

// logState is what a log file's scan remembers. The identity (device and
// inode) and a keyed hash of the file's first bytes tell a file that only
// grew from one that was rotated, replaced, or truncated and written again.
type logState struct {
	Version int    `json:"v"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Offset  int64  `json:"offset"`         // bytes consumed (always at a line end)
	Lines   int    `json:"lines"`          // lines before Offset
	Head    string `json:"head,omitempty"` // keyed hash of the first min(Offset, headBytes) bytes
	// For compressed files, which are read whole once: size and mtime.
	Size  int64 `json:"size,omitempty"`
	MTime int64 `json:"mtime,omitempty"`
	// Rules is the fingerprint of the rule set the bytes were scanned with.
	Rules string `json:"rules,omitempty"`
}

// logStateVersion 2: the head hash is keyed (version 1's plain SHA-256 of a
// short file's first bytes could be reversed by a dictionary attack).
const logStateVersion = 2

const (
	headBytes = 4096
	// chunkBytes is the size of the fragments handed to gitleaks. Smaller
	// chunks trigger fewer keyword-gated regexes each; measured on generated
	// logs, 64 KiB beat 16 KiB, 256 KiB and 1 MiB (bench/README.md).
	chunkBytes = 64 << 10
	// maxLineBytes bounds what one unterminated line may hold in memory: a
	// longer line is handed to gitleaks in pieces cut at white space, so a
	// 200 MB single-line log costs linear time and bounded memory.
	maxLineBytes = 1 << 20
	// quietPeriod: a last line with no newline is left for the next run while
	// the file was written within this period, since the writer may be half
	// way through it. An older unterminated line is scanned.
	quietPeriod = time.Minute
)

// logFiles expands a target's globs into the regular files to read. A glob
// whose directory is missing is an error (most likely a typo); a glob that
// matches nothing in an existing directory is not (the service may not have
// logged yet). FIFOs, sockets and devices are skipped, as the directory
// scanner skips them (a FIFO would block the run forever); so is a symlink
// that leads out of the glob's base directory, unless FollowSymlinks.
func logFiles(t LogTarget, log *slog.Logger) ([]string, []error) {
	seen := map[string]bool{}
	var out []string
	var errs []error
	for _, g := range t.Paths {
		if _, err := os.Stat(safefile.Base(g)); err != nil {
			errs = append(errs, fmt.Errorf("logs %s: %s: %w", t.Name, g, err))
			continue
		}
		m, err := filepath.Glob(g)
		if err != nil {
			errs = append(errs, fmt.Errorf("logs %s: bad glob %s: %w", t.Name, g, err))
			continue
		}
		for _, p := range m {
			if seen[p] {
				continue
			}
			seen[p] = true
			why, quiet, err := safefile.Check(g, p, t.FollowSymlinks)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("logs %s: %w", t.Name, err))
				continue
			case why != "" && quiet:
				log.Debug("skipped", "source", t.Name, "file", p, "why", why)
				continue
			case why != "":
				log.Warn("log glob matched "+why+"; not followed (set follow_symlinks: true to read it)", "source", t.Name, "file", p)
				continue
			}
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, errs
}

// scanLog scans one log file from where the last run stopped.
func (s *Scanner) scanLog(ctx context.Context, st scanners.StateReader, t LogTarget, path string, rs ruleSet) scanners.Result {
	res := scanners.Result{Source: scanners.Source{Scanner: "logs", Name: t.Name, Part: path}, Mode: scanners.Full}
	fail := func(err error) scanners.Result {
		res.Mode, res.State = scanners.Partial, ""
		res.Err = fmt.Errorf("logs %s: %w", t.Name, err)
		return res
	}
	f, fi, err := safefile.Open(path)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	sys, _ := fi.Sys().(*syscall.Stat_t)
	var dev, ino uint64
	if sys != nil {
		dev, ino = uint64(sys.Dev), sys.Ino
	}
	var prev logState
	if raw, err := st.ScanState(ctx, res.Source.String()); err != nil {
		return fail(fmt.Errorf("read scan state: %w", err))
	} else if raw != "" {
		_ = json.Unmarshal([]byte(raw), &prev)
	}
	// The rules are compiled, and a detector made, only for bytes to read:
	// a night on which no log grew compiles nothing.
	var d *detector
	newDetector := func() (*detector, error) {
		if d == nil {
			var err error
			if d, err = s.Engine.detector(ctx, rs); err != nil {
				return nil, err
			}
			res.Rules = rs.ids()
		}
		return d, nil
	}
	tgt := target{kind: finding.KindLeakLog, source: res.Source.String(), name: t.Name}
	collect := func() {
		if d != nil {
			res.Findings = s.Engine.convertAll(tgt, s.Engine.hashAll(d.Findings()))
		}
	}
	continued := prev.Version == logStateVersion && prev.Ino == ino && prev.Dev == dev
	if prev.Version != 0 {
		if why := ruleChange(prev.Rules, rs); why != "" {
			res.Note, continued = why, false
		} else if prev.Version != logStateVersion {
			continued = false
		}
	}

	if strings.HasSuffix(path, ".gz") {
		// Rotated, compressed logs don't change: read each once.
		if continued && prev.Size == fi.Size() && prev.MTime == fi.ModTime().UnixNano() {
			res.Mode = scanners.Incremental
			return res
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fail(fmt.Errorf("read %s: %w", path, err))
		}
		dd, err := newDetector()
		if err != nil {
			return fail(err)
		}
		n, _, _, err := s.Engine.scanStream(ctx, dd, path, zr, 0, true)
		res.Stats = scanners.Stats{Files: 1, Bytes: n}
		s.Progress.Add(0, 1, 0)
		collect()
		if err != nil {
			return fail(fmt.Errorf("read %s: %w", path, err))
		}
		b, _ := json.Marshal(logState{Version: logStateVersion, Dev: dev, Ino: ino, Size: fi.Size(), MTime: fi.ModTime().UnixNano(), Rules: rs.fingerprint})
		res.State = string(b)
		return res
	}

	start, lines := int64(0), 0
	if continued && fi.Size() >= prev.Offset {
		if h, err := s.headHash(f, min(prev.Offset, headBytes)); err == nil && h == prev.Head {
			start, lines = prev.Offset, prev.Lines
			res.Mode = scanners.Incremental
		}
	}
	if prev.Version != 0 && res.Mode == scanners.Full && res.Note == "" {
		s.Log.Info("log file was rotated or truncated; reading it from the start", "file", path)
	}
	// Read up to the size seen now: a file still growing is finished next run.
	end := fi.Size()
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return fail(err)
	}
	takeTail := time.Since(fi.ModTime()) >= quietPeriod
	var (
		n, consumed int64
		newLines    int
		readErr     error
	)
	if end > start {
		dd, err := newDetector()
		if err != nil {
			return fail(err)
		}
		n, consumed, newLines, readErr = s.Engine.scanStream(ctx, dd, path, io.LimitReader(f, end-start), lines, takeTail)
	}
	res.Stats = scanners.Stats{Files: 1, Bytes: n}
	s.Progress.Add(0, 1, 0)
	collect()
	if readErr != nil {
		return fail(fmt.Errorf("read %s: %w", path, readErr))
	}
	ns := logState{Version: logStateVersion, Dev: dev, Ino: ino, Offset: start + consumed, Lines: lines + newLines, Rules: rs.fingerprint}
	if ns.Head, err = s.headHash(f, min(ns.Offset, headBytes)); err != nil {
		return fail(err)
	}
	b, _ := json.Marshal(ns)
	res.State = string(b)
	return res
}

// headHash is the keyed hash of a file's first n bytes: the database holds
// it, and for a short file those bytes are the whole file.
func (s *Scanner) headHash(f *os.File, n int64) (string, error) {
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return s.Engine.Hasher.MAC(append([]byte("log-head\x00"), buf...)), nil
}

// scanStream cuts r into line-aligned chunks, detects on them in parallel and
// returns the bytes read, the bytes consumed (up to the last newline, or all
// of it with takeTail), and the number of lines consumed. firstLine is the
// number of lines before r's start, so findings carry file line numbers.
//
// Each byte is copied a bounded number of times: an unterminated line grows
// in place (amortised append), and past maxLineBytes it is handed on in
// pieces cut at white space, with the line's number, so neither time nor
// memory depends on the longest line.
func (e *Engine) scanStream(ctx context.Context, d *detector, path string, r io.Reader, firstLine int, takeTail bool) (read, consumed int64, lines int, err error) {
	buf := make([]byte, chunkBytes)
	var pending []byte // bytes read and not yet handed on
	// handed is how much of the line being read was already handed on in
	// pieces: it is consumed only when its newline arrives.
	var handed int64
	err = e.fanout(ctx, d, func(yield func(sources.Fragment)) error {
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			n, rerr := io.ReadFull(r, buf)
			read += int64(n)
			eof := errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF)
			if rerr != nil && !eof {
				return rerr
			}
			// Only the new bytes are searched for a newline.
			nl := bytes.LastIndexByte(buf[:n], '\n')
			pending = append(pending, buf[:n]...)
			cut := 0
			if nl >= 0 {
				cut = len(pending) - n + nl + 1
			}
			if eof && takeTail {
				cut = len(pending)
			}
			if cut > 0 {
				chunk := string(pending[:cut])
				k := strings.Count(chunk, "\n")
				yield(sources.Fragment{FilePath: filepath.ToSlash(path), Raw: chunk, StartLine: firstLine + lines + 1})
				lines += k
				consumed += handed + int64(cut)
				handed = 0
				if eof && !strings.HasSuffix(chunk, "\n") {
					lines++ // an unterminated last line is still a line
				}
				pending = append(pending[:0], pending[cut:]...)
			}
			if len(pending) > maxLineBytes {
				piece := pieceEnd(pending)
				yield(sources.Fragment{FilePath: filepath.ToSlash(path), Raw: string(pending[:piece]), StartLine: firstLine + lines + 1})
				handed += int64(piece)
				pending = append(pending[:0], pending[piece:]...)
			}
			if eof {
				return nil
			}
		}
	})
	return read, consumed, lines, err
}

// pieceEnd picks where to cut a too-long line: after the last white space
// or separator in its final 64 KiB, so that no secret token is split; a line
// with none there is cut at the end.
func pieceEnd(b []byte) int {
	lo := max(0, len(b)-chunkBytes)
	if i := bytes.LastIndexAny(b[lo:], " \t,;\"'|&"); i >= 0 {
		return lo + i + 1
	}
	return len(b)
}
