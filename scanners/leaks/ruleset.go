package leaks

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"sort"

	glconfig "github.com/zricethezav/gitleaks/v8/config"
)

// ruleSet is the effective rule set one source is scanned with: the gitleaks
// rules and every .gitleaksignore that applies.
type ruleSet struct {
	cfg    glconfig.Config
	ignore []string // .gitleaksignore files beyond the engine's own
	// fingerprint changes whenever anything that decides what is found
	// changes: a rule's pattern, keywords, entropy, allowlists, an ignore
	// file's contents, the decoding depth. It is stored with each source's
	// scan state; history or log bytes already scanned under another
	// fingerprint are scanned again, so a new rule is applied to them too.
	fingerprint string
	ids         []string
}

func (e *Engine) ruleSet(cfg glconfig.Config, extraIgnore []string) (ruleSet, error) {
	h := sha256.New()
	fmt.Fprintf(h, "decode-depth %d\n", MaxDecodeDepth)
	ids := make([]string, 0, len(cfg.Rules))
	for id := range cfg.Rules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r := cfg.Rules[id]
		fmt.Fprintf(h, "rule %q %s %s %d %g %q %q %v\n", r.RuleID, re(r.Regex), re(r.Path), r.SecretGroup, r.Entropy, sorted(r.Keywords), sorted(r.Tags), r.SkipReport)
		for _, q := range r.RequiredRules {
			if q != nil {
				fmt.Fprintf(h, "required %+v\n", *q)
			}
		}
		for _, a := range r.Allowlists {
			allowlist(h, a)
		}
	}
	for _, a := range cfg.Allowlists {
		allowlist(h, a)
	}
	for _, p := range append(append([]string{}, e.Ignore...), extraIgnore...) {
		b, err := os.ReadFile(p)
		if err != nil {
			return ruleSet{}, fmt.Errorf("read %s: %w", p, err)
		}
		fmt.Fprintf(h, "ignore %d\n", len(b))
		h.Write(b)
	}
	return ruleSet{cfg: cfg, ignore: extraIgnore, fingerprint: hex.EncodeToString(h.Sum(nil))[:32], ids: ids}, nil
}

func allowlist(h hash.Hash, a *glconfig.Allowlist) {
	if a == nil {
		return
	}
	fmt.Fprintf(h, "allow %v %q %q %q\n", a.MatchCondition, sorted(a.Commits), a.RegexTarget, sorted(a.StopWords))
	for _, r := range a.Paths {
		fmt.Fprintf(h, " path %s\n", re(r))
	}
	for _, r := range a.Regexes {
		fmt.Fprintf(h, " regex %s\n", re(r))
	}
}

// sorted returns a sorted copy: gitleaks builds some of these lists from
// maps, so their order differs from one process to the next.
func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// re prints a pattern, nil as empty. gitleaks' regexp type depends on the
// build (Go's or RE2's), hence the type parameter.
func re[T any, P interface {
	*T
	String() string
}](r P) string {
	if r == nil {
		return ""
	}
	return r.String()
}

// ruleChange says why a source's stored state can't be continued under rs,
// or "" when it can.
func ruleChange(stored string, rs ruleSet) string {
	switch stored {
	case rs.fingerprint:
		return ""
	case "":
		return "the stored scan state does not record its rule set: scanned again in full"
	}
	return "the rule set changed since the last scan: scanned again in full, so the new rules apply to what was scanned before"
}
