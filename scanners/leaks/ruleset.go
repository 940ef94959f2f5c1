package leaks

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/vigilsec/vigil/rules"
)

// ruleSet is the effective rule set one source is scanned with: the gitleaks
// rules and every .gitleaksignore that applies.
type ruleSet struct {
	src    *rules.LeakRuleSet
	ignore []string // .gitleaksignore files beyond the engine's own
	// fingerprint changes whenever anything that decides what is found
	// changes: the rules (any field of the merged configuration), an
	// ignore file's contents, the decoding depth. It is stored with each
	// source's scan state; history or log bytes already scanned under
	// another fingerprint are scanned again, so a new rule is applied to
	// them too. It is known without compiling the rules, so a night with
	// nothing new compiles none.
	fingerprint string
}

func (e *Engine) ruleSet(src *rules.LeakRuleSet, extraIgnore []string) (ruleSet, error) {
	h := sha256.New()
	fmt.Fprintf(h, "decode-depth %d\nrules %s\n", MaxDecodeDepth, src.Fingerprint)
	for _, p := range append(append([]string{}, e.Ignore...), extraIgnore...) {
		b, err := os.ReadFile(p)
		if err != nil {
			return ruleSet{}, fmt.Errorf("read %s: %w", p, err)
		}
		fmt.Fprintf(h, "ignore %d\n", len(b))
		h.Write(b)
	}
	return ruleSet{src: src, ignore: extraIgnore, fingerprint: hex.EncodeToString(h.Sum(nil))[:32]}, nil
}

// ids are the rules' ids, which a full result carries (a finding whose rule
// is gone is resolved as such). Only a source that is scanned needs them.
func (rs ruleSet) ids() []string { return rs.src.IDs() }

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
