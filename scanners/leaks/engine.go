// Package leaks finds secrets in git history, directories and log files, with
// gitleaks as the detection engine. Sources (git, dir, logs) only produce
// gitleaks fragments; detection is gitleaks'; this package turns gitleaks'
// findings into vigil findings that carry a keyed hash and a redaction of the
// secret, never the secret.
package leaks

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/zricethezav/gitleaks/v8/detect"
	"github.com/zricethezav/gitleaks/v8/report"
	"github.com/zricethezav/gitleaks/v8/sources"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/parallel"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners/leaks/prefilter"
)

// MaxDecodeDepth matches the gitleaks CLI default, so vigil and `gitleaks git`
// find the same things (set explicitly: the library's zero value disables
// decoding of base64/hex/percent-encoded secrets).
const MaxDecodeDepth = 5

// Engine holds what every leak scan shares: rules, ignore lists, the hasher.
type Engine struct {
	Rules    *rules.LeakRuleSet
	Ignore   []string // .gitleaksignore files, already validated
	Hasher   *secrethash.Hasher
	Controls rules.Controls
	// Workers is how many goroutines run detection; default GOMAXPROCS.
	Workers int
	// inspect, when set, sees every fragment before detection (tests
	// check that fragments stay bounded in size).
	inspect func(detect.Fragment)
	// OnDetect, when set, is called once, before the first detection: a
	// command tunes the process for reading (the garbage collector) only
	// when there is something to read. filtered says whether the
	// prefilter is in front of gitleaks (far less garbage per byte read).
	OnDetect   func(filtered bool)
	detectOnce sync.Once

	// FilterCache is where the prefilter keeps each rule set's compiled
	// expressions ("" compiles them in every process).
	FilterCache string
	// NoFilter runs gitleaks on every fragment (tests compare the two).
	NoFilter  bool
	filterMu  sync.Mutex
	filters   map[string]*prefilter.Filter
	filterErr error

	// text is DetectText's detector, built the first time a value comes.
	text struct {
		once sync.Once
		d    *detector
		err  error
		runs sync.Pool // of detector.worker()
	}
}

func (e *Engine) workers() int {
	if e.Workers > 0 {
		return e.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// fanout runs detection on fragments from produce with a pool of workers and
// returns when produce has returned and every fragment is inspected. The
// detector collects the findings (AddFinding applies .gitleaksignore).
func (e *Engine) fanout(ctx context.Context, d *detector, produce func(yield func(sources.Fragment)) error) error {
	return e.fanoutCached(ctx, d, nil, produce)
}

// fanoutCached is fanout with an optional hunk cache (git history only).
func (e *Engine) fanoutCached(ctx context.Context, d *detector, cache *hunkCache, produce func(yield func(sources.Fragment)) error) error {
	ch := make(chan sources.Fragment, 4*e.workers())
	var wg sync.WaitGroup
	for i := 0; i < e.workers(); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := d.worker()
			for f := range ch {
				if e.inspect != nil {
					e.inspect(detect.Fragment(f))
				}
				if cache == nil {
					for _, rf := range run(ctx, detect.Fragment(f)) {
						d.AddFinding(rf)
					}
					continue
				}
				k := hunkKey(f)
				fs, ok := cache.get(k, f)
				if !ok {
					fs = run(ctx, detect.Fragment(f))
					cache.put(k, f, fs)
				}
				for _, rf := range fs {
					d.AddFinding(rf)
				}
			}
		}()
	}
	err := produce(func(f sources.Fragment) {
		select {
		case ch <- f:
		case <-ctx.Done():
		}
	})
	close(ch)
	wg.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// severity is high for a leaked credential; generic high-entropy matches are
// medium because they are the noisiest rule.
func severity(ruleID string) finding.Severity {
	if strings.Contains(ruleID, "generic") {
		return finding.Medium
	}
	return finding.High
}

// target says where a gitleaks finding came from.
type target struct {
	kind   finding.Kind // finding.KindLeakGit, ...
	source string       // Result.Source
	name   string       // the configured source name: ids are made of it
	// display names the repository in what people read, when that is not
	// name (an organisation's repository is known by its id, shown by its
	// current name).
	display string
	root    string // directory paths are made relative to (dirs)
}

// convert turns a gitleaks finding into a vigil finding. The secret is hashed
// and redacted here and dropped: Match, Line and Secret go no further.
func (e *Engine) convert(t target, hf hashed) finding.Finding {
	rf, hash := hf.rf, hf.hash
	path := rf.File
	if t.root != "" {
		path = strings.TrimPrefix(strings.TrimPrefix(path, t.root), "/")
	}
	ev := finding.Evidence{
		"rule":        rf.RuleID,
		"redacted":    hf.redacted,
		"secret_hash": hash,
		"file":        path,
		"line":        rf.StartLine,
		"column":      rf.StartColumn,
		"entropy":     rf.Entropy,
		// gitleaks' own fingerprint, ready to paste into .gitleaksignore.
		"gitleaks_fingerprint": rf.Fingerprint,
	}
	if len(rf.Tags) > 0 {
		ev["tags"] = rf.Tags
	}
	loc := &finding.Location{Path: path, Line: rf.StartLine, EndLine: rf.EndLine, Column: rf.StartColumn}
	var resource, where string
	switch t.kind {
	case finding.KindLeakGit:
		repo := t.name
		if t.display != "" {
			repo = t.display
		}
		ev["commit"] = rf.Commit
		ev["author"] = rf.Author
		ev["date"] = rf.Date
		loc.Repo, loc.Commit = repo, rf.Commit
		resource = fmt.Sprintf("repo:%s@%s:%s:%d", repo, short(rf.Commit), path, rf.StartLine)
		where = fmt.Sprintf("commit %s of %s", short(rf.Commit), repo)
	case finding.KindLeakLog:
		resource = fmt.Sprintf("log:%s:%s:%d", t.name, path, rf.StartLine)
		where = "log " + path
	default:
		resource = fmt.Sprintf("dir:%s:%s:%d", t.name, path, rf.StartLine)
		where = path
	}
	desc := rf.Description
	if desc == "" {
		desc = rf.RuleID
	}
	f := finding.Finding{
		// The id is the place, not the value: the HMAC key differs between
		// installations (a CI job may have a fresh one each run), and ids
		// must not. The column keeps two secrets on one line apart.
		ID: finding.Fingerprint(t.kind, t.name, rf.Commit, path, fmt.Sprint(rf.StartLine), fmt.Sprint(rf.StartColumn), rf.RuleID,
			decoding(rf.Tags)),
		Kind:     t.kind,
		Severity: severity(rf.RuleID),
		Scanner:  "leaks",
		Resource: resource,
		Title:    fmt.Sprintf("%s (%s) in %s", ruleTitle(desc), rf.RuleID, where),
		Detail: fmt.Sprintf("gitleaks rule %s matched %s at %s:%d. Treat the secret as compromised: rotate it, then remove it%s.",
			rf.RuleID, hf.redacted, path, rf.StartLine, removal(t.kind)),
		Status:   finding.StatusOpen,
		Evidence: ev,
		Controls: e.Controls.For(t.kind),
		Source:   t.source,
		Location: loc,
	}
	return f
}

// hashed is a gitleaks finding with its value replaced by the value's keyed
// hash and redaction: Secret, Match and Line are emptied the moment a
// detector's findings are read, so that nothing after (the conversion, the
// shared-history cache) ever holds the value.
type hashed struct {
	rf       report.Finding
	hash     string
	redacted string
	n        int // the value's length: orders two findings at one place
}

// hashAll turns a detector's findings into hashed ones.
func (e *Engine) hashAll(rfs []report.Finding) []hashed {
	out := make([]hashed, len(rfs))
	parallel.Each(len(rfs), func(i int) {
		rf := rfs[i]
		out[i] = hashed{hash: e.Hasher.Hash(rf.Secret), redacted: secrethash.Redact(rf.Secret), n: len(rf.Secret)}
		rf.Secret, rf.Match, rf.Line = "", "", ""
		out[i].rf = rf
	})
	return out
}

// convertAll converts what one detector found for a target. Two different
// secrets can share every place-based part of an id: two values decoded
// from one encoded blob start at the same line and column. They are told
// apart by an ordinal, in an order that does not use the value (length,
// then end position; the keyed hash only breaks exact ties), while the same
// value reported twice stays one finding.
func (e *Engine) convertAll(t target, rfs []hashed) []finding.Finding {
	out := make([]finding.Finding, len(rfs))
	parallel.Each(len(rfs), func(i int) { out[i] = e.convert(t, rfs[i]) })
	byID := map[string][]int{}
	for i := range out {
		byID[out[i].ID] = append(byID[out[i].ID], i)
	}
	for id, idx := range byID {
		if len(idx) < 2 {
			continue
		}
		hashOf := func(i int) string { return out[i].Evidence.String(finding.EvSecretHash) }
		sort.SliceStable(idx, func(a, b int) bool {
			x, y := rfs[idx[a]].rf, rfs[idx[b]].rf
			if rfs[idx[a]].n != rfs[idx[b]].n {
				return rfs[idx[a]].n < rfs[idx[b]].n
			}
			if x.EndLine != y.EndLine {
				return x.EndLine < y.EndLine
			}
			if x.EndColumn != y.EndColumn {
				return x.EndColumn < y.EndColumn
			}
			return hashOf(idx[a]) < hashOf(idx[b])
		})
		assigned := map[string]string{} // keyed hash -> id
		for n, i := range idx {
			h := hashOf(i)
			if prev, ok := assigned[h]; ok {
				out[i].ID = prev
				continue
			}
			if len(assigned) > 0 {
				out[i].ID = finding.Fingerprint(t.kind, id, fmt.Sprint(n))
			}
			assigned[h] = out[i].ID
		}
	}
	return out
}

// decoding names how a match was decoded ("decoded:base64" ...), so that a
// value and its decoded form found at the same place stay two findings, as
// gitleaks reports them: the decoded one is what matches store values.
func decoding(tags []string) string {
	var d []string
	for _, t := range tags {
		if strings.HasPrefix(t, "decoded:") || strings.HasPrefix(t, "decode-depth:") {
			d = append(d, t)
		}
	}
	return strings.Join(d, ",")
}

func removal(kind finding.Kind) string {
	switch kind {
	case finding.KindLeakGit:
		return " from history (removing it from the latest commit is not enough)"
	case finding.KindLeakLog:
		return " from the logs and stop the code path that logs it"
	}
	return ""
}

// ruleTitle shortens gitleaks' long rule descriptions to their first clause.
func ruleTitle(desc string) string {
	if i := strings.IndexAny(desc, ",."); i > 0 && i < 80 {
		desc = desc[:i]
	}
	if len(desc) > 80 {
		desc = desc[:77] + "..."
	}
	return desc
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// TextSecret is a secret found in a piece of text: never the value itself.
type TextSecret = finding.TextSecret

// DetectText runs the rules over one value that is neither a file nor a
// commit (a CI variable, a config value) and returns what it found.
//
// A store calls it once per CI variable, so the detector is built once per
// engine (building one cost 1.4 ms: gitleaks' keyword automaton), and the
// per-goroutine detection it hands out is kept for the next value.
func (e *Engine) DetectText(ctx context.Context, label, text string) []TextSecret {
	e.text.once.Do(func() {
		// Not the caller's context: the detector outlives this call.
		e.text.d, e.text.err = e.detector(context.Background(), ruleSet{src: e.Rules})
	})
	if e.text.err != nil {
		return nil
	}
	run, _ := e.text.runs.Get().(func(context.Context, detect.Fragment) []report.Finding)
	if run == nil {
		run = e.text.d.worker()
	}
	defer e.text.runs.Put(run)
	var out []TextSecret
	for _, rf := range run(ctx, detect.Fragment{Raw: text, FilePath: label}) {
		out = append(out, TextSecret{Rule: rf.RuleID, Redacted: secrethash.Redact(rf.Secret), Hash: e.Hasher.Hash(rf.Secret)})
	}
	return out
}
