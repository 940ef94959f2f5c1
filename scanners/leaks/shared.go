package leaks

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/zricethezav/gitleaks/v8/report"
)

// SharedHistory lets repositories that share history (a fork and its
// parent, a repository split from another, two mirrors of one) read each
// commit once under one rule set. A commit's id fixes its diff, so what
// gitleaks finds in a commit is the same in every repository holding it:
// a repository's scan leaves out the commits reachable from another
// repository's completely scanned tips or marks, and takes their findings
// from what that scan recorded, made this repository's findings (its ids,
// its name). Tips alone would rarely help: a fork's parent has moved on
// since the fork was made, so the parent's tips are not in the fork. Marks
// are the scanned commits whose id starts with 0 (one in sixteen, chosen
// by content, so every repository marks the same commits of a shared
// history): the fork holds the parent's marks up to where they parted, and
// reads at most the few commits between the last mark and that point again.
//
// Only repositories that share a root commit (the first commit of a
// history) can share history, so the candidates a scan checks are those
// sources alone: a 10,000-repository organisation does not make every scan
// look for every other repository's tips.
//
// It is a cache, never the record: it lives beside the mirrors (an
// append-only JSON-lines file, values only as keyed hashes and
// redactions), and when it is lost, repositories are simply read whole
// again. A source's tips are recorded only when every commit behind them
// is known to the cache: after a full scan, or an incremental one that
// continued recorded tips.
type SharedHistory struct {
	path string

	mu     sync.Mutex
	loaded bool
	lines  int
	rules  map[string]*sharedRules // rule-set fingerprint ->
}

type sharedRules struct {
	tips  map[string][]string        // source -> tips scanned with all history behind them
	roots map[string][]string        // source -> its root commits
	marks map[string]map[string]bool // source -> marked commits it scanned
	found map[string][]cachedFinding // commit -> its findings (commits with findings only)
}

// cachedFinding is a finding of one commit, without the value.
type cachedFinding struct {
	RF       report.Finding `json:"f"`
	Hash     string         `json:"h"`
	Redacted string         `json:"r"`
	N        int            `json:"n"`
}

// sharedRecord is one line of the file: a source's scan.
type sharedRecord struct {
	Rules  string   `json:"rules"`
	Source string   `json:"source,omitempty"`
	Tips   []string `json:"tips,omitempty"`
	Roots  []string `json:"roots,omitempty"`
	Marks  []string `json:"marks,omitempty"`
	// Reset: Marks replace the source's marks (a full scan) rather than
	// add to them.
	Reset bool                       `json:"reset,omitempty"`
	Found map[string][]cachedFinding `json:"found,omitempty"`
}

// NewSharedHistory keeps the cache in the file at path (created on the
// first record, mode 0600).
func NewSharedHistory(path string) *SharedHistory { return &SharedHistory{path: path} }

// load reads the file once; a torn last line (a killed run) ends it.
func (h *SharedHistory) load() {
	if h.loaded {
		return
	}
	h.loaded, h.rules = true, map[string]*sharedRules{}
	f, err := os.Open(h.path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	for sc.Scan() {
		var r sharedRecord
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			break
		}
		h.apply(r)
		h.lines++
	}
	if h.lines > 2*h.live()+100 {
		h.compact()
	}
}

func (h *SharedHistory) live() int {
	n := 0
	for _, r := range h.rules {
		n += len(r.tips) + 1
	}
	return n
}

func (h *SharedHistory) apply(r sharedRecord) {
	rs := h.rules[r.Rules]
	if rs == nil {
		rs = &sharedRules{tips: map[string][]string{}, roots: map[string][]string{}, marks: map[string]map[string]bool{},
			found: map[string][]cachedFinding{}}
		h.rules[r.Rules] = rs
	}
	if r.Source != "" {
		rs.tips[r.Source], rs.roots[r.Source] = r.Tips, r.Roots
		if r.Reset || rs.marks[r.Source] == nil {
			rs.marks[r.Source] = map[string]bool{}
		}
		for _, m := range r.Marks {
			rs.marks[r.Source][m] = true
		}
	}
	for c, fs := range r.Found {
		rs.found[c] = fs
	}
}

// compact rewrites the file with one line per rule set and source.
func (h *SharedHistory) compact() {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	lines := 0
	for fp, rs := range h.rules {
		_ = enc.Encode(sharedRecord{Rules: fp, Found: rs.found})
		lines++
		for src, tips := range rs.tips {
			marks := slices.Sorted(maps.Keys(rs.marks[src]))
			_ = enc.Encode(sharedRecord{Rules: fp, Source: src, Tips: tips, Roots: rs.roots[src], Marks: marks, Reset: true})
			lines++
		}
	}
	tmp := h.path + ".tmp"
	if os.WriteFile(tmp, buf.Bytes(), 0o600) == nil && os.Rename(tmp, h.path) == nil {
		h.lines = lines
	}
}

// locked calls f with the cache loaded and locked, and the part of it for
// the rule set fp (nil when there is none).
func (h *SharedHistory) locked(fp string, f func(rs *sharedRules)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.load()
	f(h.rules[fp])
}

// others returns the tips and marks other sources that share one of roots
// were completely scanned at, under the rule set fp.
func (h *SharedHistory) others(fp, source string, roots []string) []string {
	var out []string
	h.locked(fp, func(rs *sharedRules) {
		if rs == nil {
			return
		}
		seen := map[string]bool{}
		add := func(c string) {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
		for src, tips := range rs.tips {
			if src == source || !slices.ContainsFunc(rs.roots[src], func(r string) bool { return slices.Contains(roots, r) }) {
				continue
			}
			for _, t := range tips {
				add(t)
			}
			for m := range rs.marks[src] {
				add(m)
			}
		}
	})
	slices.Sort(out)
	return out
}

// recorded reports whether source's recorded tips under fp are tips, and
// if so its recorded roots.
func (h *SharedHistory) recorded(fp, source string, tips []string) (roots []string, ok bool) {
	h.locked(fp, func(rs *sharedRules) {
		if ok = rs != nil && slices.Equal(rs.tips[source], tips); ok {
			roots = rs.roots[source]
		}
	})
	return roots, ok
}

// rootCommits returns the root commits (those without a parent) of the
// history behind tips.
func rootCommits(ctx context.Context, dir string, tips []string) ([]string, error) {
	if len(tips) == 0 {
		return nil, nil
	}
	out, err := gitRun(ctx, dir, strings.NewReader(strings.Join(tips, "\n")+"\n"), "rev-list", "--max-parents=0", "--stdin")
	if err != nil {
		return nil, err
	}
	roots := strings.Fields(string(out))
	slices.Sort(roots)
	return roots, nil
}

// findings returns the recorded findings of commits.
func (h *SharedHistory) findings(fp string, commits []string) []hashed {
	var out []hashed
	h.locked(fp, func(rs *sharedRules) {
		if rs == nil {
			return
		}
		for _, c := range commits {
			for _, cf := range rs.found[c] {
				out = append(out, hashed{rf: cf.RF, hash: cf.Hash, redacted: cf.Redacted, n: cf.N})
			}
		}
	})
	return out
}

// isMark says whether a scanned commit is one of the marks.
func isMark(commit string) bool { return strings.HasPrefix(commit, "0") }

// record appends a source's completed scan: its tips, the marks among the
// commits it read (replacing its earlier marks when full), and the findings
// of the commits it read.
func (h *SharedHistory) record(fp, source string, tips, roots, read []string, full bool, found []hashed) error {
	r := sharedRecord{Rules: fp, Source: source, Tips: tips, Roots: roots, Reset: full, Found: map[string][]cachedFinding{}}
	for _, c := range read {
		if isMark(c) {
			r.Marks = append(r.Marks, c)
		}
	}
	for _, f := range found {
		r.Found[f.rf.Commit] = append(r.Found[f.rf.Commit], cachedFinding{RF: f.rf, Hash: f.hash, Redacted: f.redacted, N: f.n})
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.load()
	if err := os.MkdirAll(filepath.Dir(h.path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(h.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.Write(append(b, '\n'))
	if err := errors.Join(werr, f.Close()); err != nil {
		return err
	}
	h.apply(r)
	h.lines++
	return nil
}

// sharedCommits splits the commits a scan would read (reachable from tips,
// not from exclude) into those to read and those another repository
// already read: the recorded tips of others present in this repository
// are added to exclude. It returns the new exclude list and the shared
// commits.
func sharedCommits(ctx context.Context, dir string, tips, exclude, others []string) ([]string, []string, error) {
	if len(others) == 0 || len(tips) == 0 {
		return exclude, nil, nil
	}
	var in bytes.Buffer
	for _, o := range others {
		in.WriteString(o + "\n")
	}
	out, err := gitRun(ctx, dir, &in, "cat-file", "--batch-check=%(objectname) %(objecttype)")
	if err != nil {
		return exclude, nil, err
	}
	var present []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if sha, typ, ok := strings.Cut(line, " "); ok && typ == "commit" {
			present = append(present, sha)
		}
	}
	if len(present) == 0 {
		return exclude, nil, nil
	}
	revs := func(extra []string) (map[string]bool, error) {
		var in bytes.Buffer
		for _, t := range tips {
			in.WriteString(t + "\n")
		}
		for _, x := range append(append([]string{}, exclude...), extra...) {
			in.WriteString("^" + x + "\n")
		}
		out, err := gitRun(ctx, dir, &in, "rev-list", "--stdin")
		if err != nil {
			return nil, err
		}
		set := map[string]bool{}
		for _, c := range strings.Fields(string(out)) {
			set[c] = true
		}
		return set, nil
	}
	all, err := revs(nil)
	if err != nil {
		return exclude, nil, err
	}
	rest, err := revs(present)
	if err != nil {
		return exclude, nil, err
	}
	var shared []string
	for c := range all {
		if !rest[c] {
			shared = append(shared, c)
		}
	}
	if len(shared) == 0 {
		return exclude, nil, nil
	}
	slices.Sort(shared)
	return append(append([]string{}, exclude...), present...), shared, nil
}
