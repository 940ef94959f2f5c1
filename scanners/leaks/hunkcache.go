package leaks

import (
	"crypto/sha256"
	"sync"
	"unsafe"

	glconfig "github.com/zricethezav/gitleaks/v8/config"
	"github.com/zricethezav/gitleaks/v8/report"
	"github.com/zricethezav/gitleaks/v8/sources"
)

// hunkCache remembers what gitleaks found in a hunk so that the same text
// added to the same path by another commit is not inspected again. Histories
// repeat themselves: rebased pull-request branches, cherry-picks, reverts and
// re-applied patches. In gitleaks' own history 27% of the added bytes are
// such repeats.
//
// Replaying is exact because everything gitleaks derives from a fragment
// other than its commit is a function of (path, text, start line), and the
// start line only shifts line numbers: a finding's line is the fragment's
// start line plus the match's offset within the text. The commit enters
// detection only through allowlists that name commits, so the cache is off
// when any allowlist does (see cacheable).
type hunkCache struct {
	mu sync.Mutex
	m  map[[32]byte]hunkResult
	// pathOnly are rules without a regex: gitleaks reports their findings
	// at line 0 whatever the hunk, so a replay must not shift them.
	pathOnly map[string]bool
}

type hunkResult struct {
	start    int
	findings []report.Finding
}

func newHunkCache(cfg glconfig.Config) *hunkCache {
	c := &hunkCache{m: map[[32]byte]hunkResult{}, pathOnly: map[string]bool{}}
	for id, r := range cfg.Rules {
		if r.Regex == nil {
			c.pathOnly[id] = true
		}
	}
	return c
}

func hunkKey(f sources.Fragment) [32]byte {
	// The texts are hashed in place: a copy of every hunk only to hash it
	// would be as much garbage as the history read.
	h := sha256.New()
	h.Write(unsafe.Slice(unsafe.StringData(f.FilePath), len(f.FilePath)))
	h.Write([]byte{0})
	h.Write(unsafe.Slice(unsafe.StringData(f.Raw), len(f.Raw)))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// get returns the findings of an identical hunk seen before, moved to f's
// commit and lines.
func (c *hunkCache) get(k [32]byte, f sources.Fragment) ([]report.Finding, bool) {
	c.mu.Lock()
	r, ok := c.m[k]
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	out := make([]report.Finding, len(r.findings))
	shift := f.StartLine - r.start
	for i, rf := range r.findings {
		if !c.pathOnly[rf.RuleID] {
			rf.StartLine += shift
			rf.EndLine += shift
		}
		rf.Commit = f.CommitSHA
		rf.Author, rf.Email, rf.Date, rf.Message = "", "", "", ""
		if ci := f.CommitInfo; ci != nil {
			rf.Author, rf.Email, rf.Date, rf.Message = ci.AuthorName, ci.AuthorEmail, ci.Date, ci.Message
		}
		rf.Tags = append([]string(nil), rf.Tags...)
		out[i] = rf
	}
	return out, true
}

func (c *hunkCache) put(k [32]byte, f sources.Fragment, fs []report.Finding) {
	c.mu.Lock()
	if _, ok := c.m[k]; !ok {
		c.m[k] = hunkResult{start: f.StartLine, findings: fs}
	}
	c.mu.Unlock()
}

// cacheable reports whether detection is independent of the commit for cfg:
// true unless some global or rule allowlist lists commits.
func cacheable(cfg glconfig.Config) bool {
	for _, a := range cfg.Allowlists {
		if len(a.Commits) > 0 {
			return false
		}
	}
	for _, r := range cfg.Rules {
		for _, a := range r.Allowlists {
			if len(a.Commits) > 0 {
				return false
			}
		}
	}
	return true
}
