// Package prefilter proves, before gitleaks looks at a fragment, that
// gitleaks would find nothing in it, so that it need not look.
//
// gitleaks runs, per fragment: a lower-casing and a keyword search, each
// rule whose keyword occurs (its regex over the whole fragment), and a
// search for encoded text to decode and scan again. On source code and
// history most fragments hold nothing, yet "key" and "token" are
// everywhere. One Vectorscan pass over the fragment, with every rule's
// regex rewritten as an expression that matches a superset of it (hsExpr),
// proves that no rule's regex can match; mayDecode proves that nothing is
// decoded; and no path-only rule names the file. Then gitleaks' result is
// empty and the fragment is skipped. Otherwise gitleaks runs as it always
// does, so the findings are gitleaks' own on every input: the filter only
// ever says "nothing here", and only with a proof.
//
// Vectorscan is a C++ library, linked with cgo: a build without the
// vectorscan tag has no filter (New says so) and runs gitleaks on every
// fragment, with the same findings.
package prefilter

import (
	"errors"
	"fmt"
	"sort"

	"github.com/zricethezav/gitleaks/v8/config"
	"github.com/zricethezav/gitleaks/v8/detect"
	glregexp "github.com/zricethezav/gitleaks/v8/regexp"
)

// ErrUnavailable is New's answer in a build without Vectorscan.
var ErrUnavailable = errors.New("built without Vectorscan (the vectorscan build tag)")

// Filter is the proof for one rule set. It is safe for concurrent use with a
// Scratch per goroutine.
type Filter struct {
	m matcher
	// paths are the path-only rules' path regexes: gitleaks reports a file
	// whose path one of them matches, whatever it holds.
	paths []*glregexp.Regexp
}

// matcher is the compiled expressions: whether any matches t.
type matcher interface {
	newScratch() (scratch, error)
	marshal() ([]byte, error)
}

type scratch interface {
	anyMatch(t string) (bool, error)
}

// Scratch is one goroutine's working memory for MayFind.
type Scratch struct{ s scratch }

// New builds the filter for cfg. It fails, and the caller runs gitleaks on
// every fragment, when Vectorscan is not linked or when a rule's regex
// cannot be rewritten or compiled (the error names the rule).
func New(cfg config.Config) (*Filter, error) { return Load(cfg, "") }

// Load is New with the compiled expressions kept in cacheDir: compiling
// gitleaks' rules takes Vectorscan 0.3-0.4 s, reading them back a few
// milliseconds. The file is named by a hash of the expressions and of
// Vectorscan's version; one that does not load is compiled again.
func Load(cfg config.Config, cacheDir string) (*Filter, error) {
	f := &Filter{}
	ids := make([]string, 0, len(cfg.Rules))
	for id := range cfg.Rules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var exprs []string
	for _, id := range ids {
		r := cfg.Rules[id]
		switch {
		case r.Regex != nil:
			e, err := hsExpr(r.Regex.String())
			if err != nil {
				return nil, fmt.Errorf("rule %s: %w", id, err)
			}
			exprs = append(exprs, e)
		case r.Path != nil:
			f.paths = append(f.paths, r.Path)
		}
	}
	m, err := compileCached(exprs, ids, cacheDir)
	if err != nil {
		return nil, err
	}
	f.m = m
	return f, nil
}

// NewScratch returns working memory for one goroutine.
func (f *Filter) NewScratch() (*Scratch, error) {
	s, err := f.m.newScratch()
	if err != nil {
		return nil, err
	}
	return &Scratch{s}, nil
}

// MayFind reports whether gitleaks could find anything in fr; false is a
// proof that it finds nothing. An error of the matcher says "may find".
func (f *Filter) MayFind(fr detect.Fragment, s *Scratch) bool {
	for _, p := range f.paths {
		if p.MatchString(fr.FilePath) || (fr.WindowsFilePath != "" && p.MatchString(fr.WindowsFilePath)) {
			return true
		}
	}
	if ok, err := s.s.anyMatch(fr.Raw); ok || err != nil {
		return true
	}
	return mayDecode(fr.Raw)
}
