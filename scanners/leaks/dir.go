package leaks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	glconfig "github.com/zricethezav/gitleaks/v8/config"
	"github.com/zricethezav/gitleaks/v8/detect"
	"github.com/zricethezav/gitleaks/v8/report"
	"github.com/zricethezav/gitleaks/v8/sources"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/safefile"
	"github.com/vigilsec/vigil/scanners"
)

// DirTarget is a directory tree scanned as plain files.
type DirTarget struct {
	Name string
	Path string
}

// scanDir walks a directory and runs gitleaks' file source on each file. The
// walk is vigil's own rather than gitleaks' Files source because that one
// skips unreadable files with only a log line; here each becomes an error in
// the result, and the rest of the tree is still scanned.
func (s *Scanner) scanDir(ctx context.Context, t DirTarget) scanners.Result {
	res := scanners.Result{Source: scanners.Source{Scanner: "dir", Name: t.Name}, Mode: scanners.Full}
	fi, err := os.Stat(t.Path)
	if err == nil && !fi.IsDir() {
		err = errors.New("not a directory")
	}
	if err != nil {
		res.Mode, res.Err = scanners.Partial, fmt.Errorf("dir %s: %s: %w", t.Name, t.Path, err)
		return res
	}
	src, extraIgnore, err := s.repoRules(t.Path)
	if err != nil {
		res.Mode, res.Err = scanners.Partial, fmt.Errorf("dir %s: %w", t.Name, err)
		return res
	}
	rs, err := s.Engine.ruleSet(src, extraIgnore)
	if err != nil {
		res.Mode, res.Err = scanners.Partial, fmt.Errorf("dir %s: %w", t.Name, err)
		return res
	}
	res.Rules = rs.ids()
	d, err := s.Engine.detector(ctx, rs)
	if err != nil {
		res.Mode, res.Err = scanners.Partial, fmt.Errorf("dir %s: %w", t.Name, err)
		return res
	}
	cfg := d.Config

	var (
		mu      sync.Mutex
		errs    []error
		addErr  = func(e error) { mu.Lock(); errs = append(errs, e); mu.Unlock() }
		paths   = make(chan string, 64)
		wg      sync.WaitGroup
		counter scanners.Counter
	)
	for i := 0; i < s.Engine.workers(); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := d.worker()
			for p := range paths {
				n, err := scanFile(ctx, d, run, &cfg, p)
				counter.Add(0, 1, n)
				s.Progress.Add(0, 1, n)
				if err != nil {
					addErr(err)
				}
			}
		}()
	}
	walkErr := filepath.WalkDir(t.Path, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			addErr(fmt.Errorf("read %s: %w", p, err))
			if de != nil && de.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if pathAllowed(&cfg, p) {
			if de.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !de.Type().IsRegular() {
			return nil // directories, and symlinks (not followed, as gitleaks)
		}
		paths <- p
		return nil
	})
	close(paths)
	wg.Wait()
	if walkErr != nil {
		addErr(walkErr)
	}
	res.Stats = scanners.Stats{Files: counter.Files.Load(), Bytes: counter.Bytes.Load()}
	tgt := target{kind: finding.KindLeakFile, source: res.Source.String(), name: t.Name, root: filepath.ToSlash(t.Path)}
	res.Findings = s.Engine.convertAll(tgt, s.Engine.hashAll(d.Findings()))
	if len(errs) > 0 {
		res.Mode = scanners.Partial
		res.Err = fmt.Errorf("dir %s: %d file(s) could not be read: %w", t.Name, len(errs), errors.Join(errs...))
	}
	return res
}

func pathAllowed(cfg *glconfig.Config, p string) bool {
	for _, a := range cfg.Allowlists {
		if a.PathAllowed(filepath.ToSlash(p)) {
			return true
		}
	}
	return false
}

// scanFile feeds one file through gitleaks' File source (chunking at safe
// boundaries, skipping binaries) into the detector.
func scanFile(ctx context.Context, d *detector, run func(context.Context, detect.Fragment) []report.Finding, cfg *glconfig.Config, p string) (int64, error) {
	f, fi, err := safefile.Open(p)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", p, err)
	}
	defer f.Close()
	if fi.Size() == 0 {
		return 0, nil
	}
	var n int64
	src := &sources.File{Content: f, Path: filepath.ToSlash(p), Config: cfg}
	var ferr error
	err = src.Fragments(ctx, func(fr sources.Fragment, err error) error {
		if err != nil {
			ferr = err
			return nil
		}
		n += int64(len(fr.Raw))
		for _, rf := range run(ctx, detect.Fragment(fr)) {
			d.AddFinding(rf)
		}
		return nil
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return n, fmt.Errorf("read %s: %w", p, err)
	}
	return n, nil
}
