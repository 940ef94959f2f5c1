package leaks

import (
	"log/slog"

	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners"
)

// Options are the settings of a leaks scanner besides its engine.
type Options struct {
	// ExplicitRules: the user named a gitleaks config, so a repository's
	// own .gitleaks.toml is not used instead.
	ExplicitRules bool
	// CacheDir holds mirrors of repositories given by URL.
	CacheDir string
	Progress scanners.Progress
	Log      *slog.Logger
}

// New returns a leaks scanner on eng with no targets: the caller adds its
// repositories, directories and log globs.
func New(eng *Engine, o Options) *Scanner {
	s := &Scanner{Engine: eng, ExplicitRules: o.ExplicitRules, CacheDir: o.CacheDir, Progress: o.Progress, Log: o.Log}
	if s.Progress == nil {
		s.Progress = scanners.Nop{}
	}
	if eng.FilterCache == "" && o.CacheDir != "" {
		eng.FilterCache = o.CacheDir
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	return s
}

// NewEngine reads and checks the gitleaks rules (default rules when rulesPath
// is empty; they are compiled when a scan first needs them) and validates
// the ignore file.
func NewEngine(rulesPath, ignorePath string, h *secrethash.Hasher, controls rules.Controls) (*Engine, error) {
	rc, err := rules.LoadLeakRules(rulesPath)
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
