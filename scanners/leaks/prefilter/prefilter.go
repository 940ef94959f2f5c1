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
	"slices"
	"sort"
	"strings"

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
	// ids are the rules with a regex, in the matcher's order; requires
	// are, by the same index, the rules each needs beside it (gitleaks'
	// composite rules look those up in the detector's rule set).
	ids      []string
	requires [][]string
	// paths are the path-only rules (ids and path regexes): gitleaks
	// reports a file whose path one of them matches, whatever it holds.
	pathIDs []string
	paths   []*glregexp.Regexp
}

// matcher is the compiled expressions: whether any matches t.
type matcher interface {
	newScratch() (scratch, error)
	marshal() ([]byte, error)
}

type scratch interface {
	// matches appends to into the indices of the expressions that match t.
	matches(t string, into []int) ([]int, error)
}

// Scratch is one goroutine's working memory for Check.
type Scratch struct {
	s    scratch
	hits []int
}

// New builds the filter for cfg. It fails, and the caller runs gitleaks on
// every fragment, when Vectorscan is not linked or when a rule's regex
// cannot be rewritten or compiled (the error names the rule).
func New(cfg config.Config) (*Filter, error) { return Load(cfg, "") }

// Load is New with the compiled expressions kept in cacheDir: compiling
// gitleaks' rules takes Vectorscan 0.3-0.4 s, reading them back a few
// milliseconds. The file is named by a hash of the expressions and of
// Vectorscan's version; one that does not load is compiled again.
func Load(cfg config.Config, cacheDir string) (*Filter, error) {
	if engineVersion() == "" {
		// Said before the rules are rewritten, which would be for nothing.
		return nil, ErrUnavailable
	}
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
			f.ids = append(f.ids, id)
			var req []string
			for _, q := range r.RequiredRules {
				req = append(req, q.RuleID)
			}
			f.requires = append(f.requires, req)
		case r.Path != nil:
			f.pathIDs = append(f.pathIDs, id)
			f.paths = append(f.paths, r.Path)
		}
	}
	m, err := compileCached(exprs, f.ids, cacheDir)
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
	return &Scratch{s: s}, nil
}

// Verdict is what the filter proved about one fragment.
type Verdict struct {
	// Skip: gitleaks finds nothing in the fragment.
	Skip bool
	// Rules, when not nil, are the only rules that can find anything in
	// it (sorted ids, with the rules they require): nothing in it is
	// decoded, so gitleaks reads it once, and no other rule's regex
	// matches it. Nil when the filter proved neither (gitleaks then runs
	// every rule on it, as always).
	Rules []string
}

// Check proves what it can about fr. An error of the matcher proves
// nothing.
func (f *Filter) Check(fr detect.Fragment, s *Scratch) Verdict {
	// Text gitleaks may decode proves nothing whatever Vectorscan says:
	// asked first, it spares Vectorscan a pass over it.
	if mayDecode(fr.Raw) {
		return Verdict{}
	}
	var err error
	if s.hits, err = s.s.matches(fr.Raw, s.hits[:0]); err != nil {
		return Verdict{}
	}
	var rules []string
	for i, p := range f.paths {
		if p.MatchString(fr.FilePath) || (fr.WindowsFilePath != "" && p.MatchString(fr.WindowsFilePath)) {
			rules = append(rules, f.pathIDs[i])
		}
	}
	if len(s.hits) == 0 && len(rules) == 0 {
		return Verdict{Skip: true}
	}
	for _, i := range s.hits {
		rules = append(rules, f.ids[i])
		rules = append(rules, f.requires[i]...)
	}
	sort.Strings(rules)
	return Verdict{Rules: slices.Compact(rules)}
}

// Narrow is cfg with only the rules ids, and their keywords: the rule set
// gitleaks needs for a fragment whose Verdict names those rules. Every other
// field is cfg's (allowlists, paths).
func Narrow(cfg config.Config, ids []string) config.Config {
	n := cfg
	n.Rules = make(map[string]config.Rule, len(ids))
	n.Keywords = map[string]struct{}{}
	for _, id := range ids {
		r, ok := cfg.Rules[id]
		if !ok {
			continue
		}
		n.Rules[id] = r
		for _, k := range r.Keywords {
			n.Keywords[strings.ToLower(k)] = struct{}{}
		}
	}
	return n
}
