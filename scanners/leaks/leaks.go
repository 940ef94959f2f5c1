package leaks

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/vigilsec/vigil/scanners"
)

// Scanner is the leaks scanner: git repositories, directories and log files.
type Scanner struct {
	Engine *Engine
	// ExplicitRules is true when the user named a gitleaks config; otherwise
	// a repository's own .gitleaks.toml is used for that repository.
	ExplicitRules bool
	// CacheDir holds mirrors of repositories given by URL.
	CacheDir string

	Git  []GitTarget
	Dirs []DirTarget
	Logs []LogTarget

	Progress scanners.Progress
	Log      *slog.Logger
}

// Name implements scanners.Scanner.
func (s *Scanner) Name() string { return "leaks" }

// Scan scans every target and emits one result per repository, directory
// and log file. Targets run one after another (each one already uses every
// core), so a huge repository can't starve memory by running beside others.
func (s *Scanner) Scan(ctx context.Context, st scanners.StateReader, emit func(scanners.Result)) error {
	if s.Progress == nil {
		s.Progress = scanners.Nop{}
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	for _, t := range s.Git {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if scanners.Owns(ctx, scanners.Source{Scanner: "git", Name: t.Name}) {
			emit(s.ScanGit(ctx, st, t))
		}
	}
	for _, t := range s.Dirs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if scanners.Owns(ctx, scanners.Source{Scanner: "dir", Name: t.Name}) {
			emit(s.scanDir(ctx, t))
		}
	}
	if len(s.Logs) == 0 {
		return nil
	}
	// Every log file is scanned with the engine's rules: their fingerprint
	// is computed once, not per file.
	rs, err := s.Engine.ruleSet(s.Engine.Rules, nil)
	if err != nil {
		for _, t := range s.Logs {
			emit(scanners.Result{Source: scanners.Source{Scanner: "logs", Name: t.Name}, Mode: scanners.Partial, Err: fmt.Errorf("logs %s: %w", t.Name, err)})
		}
		return nil
	}
	for _, t := range s.Logs {
		files, errs := logFiles(t, s.Log)
		if scanners.Owns(ctx, scanners.Source{Scanner: "logs", Name: t.Name}) {
			for _, err := range errs {
				emit(scanners.Result{Source: scanners.Source{Scanner: "logs", Name: t.Name}, Mode: scanners.Partial, Err: err})
			}
		}
		for _, p := range files {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if scanners.Owns(ctx, scanners.Source{Scanner: "logs", Name: t.Name, Part: p}) {
				emit(s.scanLog(ctx, st, t, p, rs))
			}
		}
	}
	return nil
}
