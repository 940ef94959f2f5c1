package leaks

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	glconfig "github.com/zricethezav/gitleaks/v8/config"
	"github.com/zricethezav/gitleaks/v8/detect"
	"github.com/zricethezav/gitleaks/v8/report"

	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners/leaks/prefilter"
)

// detector returns a fresh detector for rs, compiling its rules (and their
// prefilter) the first time a scan needs them (once per rule file and
// process). A detector accumulates findings, so one per target keeps
// targets apart; it applies the engine's .gitleaksignore and the target's
// own (rs.ignore).
func (e *Engine) detector(ctx context.Context, rs ruleSet) (*detector, error) {
	cfg, err := rs.src.Config()
	if err != nil {
		return nil, err
	}
	filter := e.filterFor(rs.src, cfg)
	e.detectOnce.Do(func() {
		if e.OnDetect != nil {
			e.OnDetect(filter != nil)
		}
	})
	d := &detector{Config: cfg, filter: filter}
	if filter == nil {
		d.found = newDetector(ctx, cfg)
		d.whole = func() *detect.Detector { return d.found }
	} else {
		lean := cfg
		lean.Keywords = nil
		d.found = newDetector(ctx, lean)
		d.found.Config = cfg
		d.whole = sync.OnceValue(func() *detect.Detector { return newDetector(ctx, cfg) })
	}
	for _, p := range append(append([]string{}, e.Ignore...), rs.ignore...) {
		if err := d.found.AddGitleaksIgnore(p); err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
	}
	return d, nil
}

// detector is gitleaks' detection for one source, with the prefilter in
// front of it: a proof, per fragment, that gitleaks would find nothing
// there, or that only a few rules could (package prefilter). filter is nil
// in a build without Vectorscan, and then whole does everything.
type detector struct {
	Config glconfig.Config
	// found collects the findings (AddFinding applies .gitleaksignore).
	// Behind the filter it never detects, and has no keyword automaton:
	// gitleaks' for the whole rule set is megabytes (256 transitions of 8
	// bytes per state), and most fragments never need it.
	found  *detect.Detector
	filter *prefilter.Filter
	// whole is the Detector of the whole rule set, for a fragment the
	// filter proves nothing about; behind the filter it is built the first
	// time one needs it.
	whole func() *detect.Detector
	// narrowed holds a Detector per set of rules a verdict named (by the
	// ids joined), built the first time a fragment needs it; at most
	// maxNarrowed of them (30-100 KiB each: their keyword automata).
	narrowed  sync.Map
	nNarrowed atomic.Int32
}

// maxNarrowed bounds the narrowed Detectors one detector keeps. A fragment
// whose set of rules finds no room goes to the whole rule set, as without
// the filter (the same findings: the rules it adds cannot match there).
// Gitleaks' history names a few hundred sets, most of them rarely: on it,
// keeping 64 costs no time against 256 (A/B wall 0.99, in turn) and
// peaks at 97 against 107 MiB (16: 94 MiB, 3% slower).
const maxNarrowed = 64

// AddFinding adds a finding gitleaks reported, unless .gitleaksignore
// names it.
func (d *detector) AddFinding(f report.Finding) { d.found.AddFinding(f) }

// Findings are the findings added.
func (d *detector) Findings() []report.Finding { return d.found.Findings() }

// worker returns detection for one goroutine (the prefilter's working
// memory is per goroutine). A fragment the filter proves empty is not given
// to gitleaks; one it proves only a few rules can match, and with nothing
// to decode, is given to a gitleaks Detector of those rules alone; any
// other fragment to the whole rule set. The findings are gitleaks' own.
func (d *detector) worker() func(context.Context, detect.Fragment) []report.Finding {
	if d.filter == nil {
		return d.whole().DetectContext
	}
	s, err := d.filter.NewScratch()
	if err != nil {
		return d.whole().DetectContext
	}
	return func(ctx context.Context, f detect.Fragment) []report.Finding {
		v := d.filter.Check(f, s)
		switch {
		case v.Skip:
			return nil
		case v.Rules != nil:
			if n := d.narrow(ctx, v.Rules); n != nil {
				return n.DetectContext(ctx, f)
			}
		}
		return d.whole().DetectContext(ctx, f)
	}
}

// narrow returns the Detector of the rules ids alone, or nil when
// maxNarrowed are kept already. It does not decode: a verdict names rules
// only for a fragment with nothing to decode.
func (d *detector) narrow(ctx context.Context, ids []string) *detect.Detector {
	key := strings.Join(ids, "\x00")
	if n, ok := d.narrowed.Load(key); ok {
		return n.(*detect.Detector)
	}
	if d.nNarrowed.Add(1) > maxNarrowed {
		d.nNarrowed.Add(-1)
		return nil
	}
	n := newDetector(ctx, prefilter.Narrow(d.Config, ids))
	n.MaxDecodeDepth = 0
	actual, loaded := d.narrowed.LoadOrStore(key, n)
	if loaded {
		d.nNarrowed.Add(-1)
	}
	return actual.(*detect.Detector)
}

// newDetector is a gitleaks Detector set as vigil runs them all.
func newDetector(ctx context.Context, cfg glconfig.Config) *detect.Detector {
	d := detect.NewDetectorContext(ctx, cfg)
	d.MaxDecodeDepth = MaxDecodeDepth
	d.MaxArchiveDepth = 0
	return d
}

// filterFor returns the prefilter of a rule set, built (or read from
// FilterCache) once per rule set and process; nil when there is none, with
// the reason kept for FilterStatus.
func (e *Engine) filterFor(src *rules.LeakRuleSet, cfg glconfig.Config) *prefilter.Filter {
	if e.NoFilter {
		return nil
	}
	e.filterMu.Lock()
	defer e.filterMu.Unlock()
	if f, ok := e.filters[src.Fingerprint]; ok {
		return f
	}
	f, err := prefilter.Load(cfg, e.FilterCache)
	if err != nil {
		f, e.filterErr = nil, err
	}
	if e.filters == nil {
		e.filters = map[string]*prefilter.Filter{}
	}
	e.filters[src.Fingerprint] = f
	return f
}

// prepare compiles a rule set and builds its prefilter in the background, so
// that a scan's first detector finds them ready: the caller does its own
// reading meanwhile (git lists the commits). An error is the detector's to
// report, when it asks again.
func (e *Engine) prepare(src *rules.LeakRuleSet) {
	go func() {
		if cfg, err := src.Config(); err == nil {
			e.filterFor(src, cfg)
		}
	}()
}

// FilterStatus says whether the engine's rules run behind the prefilter,
// and why not if they do not (vigil doctor shows it).
func (e *Engine) FilterStatus() error {
	cfg, err := e.Rules.Config()
	if err != nil {
		return err
	}
	if e.filterFor(e.Rules, cfg) != nil {
		return nil
	}
	e.filterMu.Lock()
	defer e.filterMu.Unlock()
	if e.filterErr == nil {
		return fmt.Errorf("turned off")
	}
	return e.filterErr
}
