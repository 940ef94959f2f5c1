package leaks

import (
	"log/slog"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners"
)

// New builds the leaks scanner for a vigil.yaml. Rule files are loaded and
// checked here, so a bad .gitleaks.toml or .gitleaksignore fails the run up
// front with its file and line, before any source is read.
func New(cfg *config.Config, h *secrethash.Hasher, controls rules.Controls, progress scanners.Progress, log *slog.Logger) (*Scanner, error) {
	eng, err := NewEngine(cfg.Rules.Gitleaks, cfg.Rules.GitleaksIgnore, h, controls)
	if err != nil {
		return nil, err
	}
	s := &Scanner{
		Engine:        eng,
		ExplicitRules: cfg.Rules.Gitleaks != "",
		CacheDir:      cfg.CacheDir,
		Progress:      progress,
		Log:           log,
	}
	for _, g := range cfg.Sources.Git {
		s.Git = append(s.Git, GitTarget{Name: g.Name, Path: g.Path, URL: g.URL})
	}
	for _, d := range cfg.Sources.Dirs {
		s.Dirs = append(s.Dirs, DirTarget{Name: d.Name, Path: d.Path})
	}
	for _, l := range cfg.Sources.Logs {
		s.Logs = append(s.Logs, LogTarget{Name: l.Name, Paths: l.Paths, FollowSymlinks: l.FollowSymlinks})
	}
	return s, nil
}

// NewEngine loads the gitleaks rules (default rules when rulesPath is empty)
// and validates the ignore file.
func NewEngine(rulesPath, ignorePath string, h *secrethash.Hasher, controls rules.Controls) (*Engine, error) {
	rc, err := rules.LeakRules(rulesPath)
	if err != nil {
		return nil, err
	}
	eng := &Engine{Rules: rc, Hasher: h, Controls: controls}
	if ignorePath != "" {
		if _, err := rules.IgnoreFile(ignorePath); err != nil {
			return nil, err
		}
		eng.Ignore = []string{ignorePath}
	}
	return eng, nil
}
