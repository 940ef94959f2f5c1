//go:build vectorscan

package prefilter

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp/syntax"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/zricethezav/gitleaks/v8/config"
	"github.com/zricethezav/gitleaks/v8/detect"
	"github.com/zricethezav/gitleaks/v8/report"

	"github.com/vigilsec/vigil/rules"
)

func defaultRules(t *testing.T) config.Config {
	t.Helper()
	rs, err := rules.LoadLeakRules("")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := rs.Config()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// samples are random strings each rule's own regex matches (gen_test.go),
// up to n per rule, by rule id.
func samples(t *testing.T, cfg config.Config, n int) map[string][]string {
	t.Helper()
	r := rand.New(rand.NewSource(7))
	out := map[string][]string{}
	for id, rule := range cfg.Rules {
		if rule.Regex == nil {
			continue
		}
		re, err := syntax.Parse(rule.Regex.String(), syntax.Perl)
		if err != nil {
			t.Fatalf("rule %s: %v", id, err)
		}
		for try := 0; try < 40*n && len(out[id]) < n; try++ {
			var b strings.Builder
			generate(r, re, &b)
			if s := b.String(); rule.Regex.MatchString(s) {
				out[id] = append(out[id], s)
			}
		}
	}
	return out
}

// TestRewriteMatchesWhatEveryRuleMatches: for every default rule, random
// strings its regex matches (runes outside ASCII and Unicode case folds
// among them) are matched by its rewrite, compiled alone in Vectorscan.
func TestRewriteMatchesWhatEveryRuleMatches(t *testing.T) {
	cfg := defaultRules(t)
	byRule := samples(t, cfg, 60)
	var ids []string
	for id := range cfg.Rules {
		if cfg.Rules[id].Regex != nil {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	tested, strings_, high := 0, 0, 0
	for _, id := range ids {
		e, err := hsExpr(cfg.Rules[id].Regex.String())
		if err != nil {
			t.Fatalf("rule %s: %v", id, err)
		}
		m, err := compile([]string{e}, []string{id})
		if err != nil {
			t.Fatalf("rule %s: %v", id, err)
		}
		sc, err := m.newScratch()
		if err != nil {
			t.Fatal(err)
		}
		if len(byRule[id]) > 0 {
			tested++
		}
		for _, s := range byRule[id] {
			strings_++
			if strings.IndexFunc(s, func(c rune) bool { return c >= 0x80 }) >= 0 {
				high++
			}
			for _, text := range []string{s, "x = " + s + "\n", "é" + s + "é"} {
				if hits, err := sc.matches(text, nil); len(hits) == 0 || err != nil {
					t.Errorf("rule %s matches %q; its rewrite %s does not (%v)", id, text, e, err)
				}
			}
		}
	}
	t.Logf("%d of %d rules, %d strings (%d with runes outside ASCII)", tested, len(ids), strings_, high)
	if tested < len(ids)*9/10 || high < strings_/10 {
		t.Fatalf("not a test: samples for %d of %d rules, %d of %d strings outside ASCII", tested, len(ids), high, strings_)
	}
}

// TestFilterNeverHidesAFinding: on text with secrets planted as they are,
// base64-encoded and inside Go source, gitleaks finds nothing in a fragment
// the filter skips, and finds the same with only the rules the filter names
// (Narrow, without decoding) as with all of them. And the filter does skip
// most of plain source code, or it would be no filter.
func TestFilterNeverHidesAFinding(t *testing.T) {
	cfg := defaultRules(t)
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := f.NewScratch()
	if err != nil {
		t.Fatal(err)
	}
	d := detect.NewDetector(cfg)
	d.MaxDecodeDepth = 5
	src := goSource(t)
	r := rand.New(rand.NewSource(3))
	withFindings, narrowed := 0, 0
	check := func(fr detect.Fragment) {
		found := d.DetectContext(context.Background(), fr)
		if len(found) > 0 {
			withFindings++
		}
		v := f.Check(fr, sc)
		switch {
		case v.Skip && len(found) > 0:
			t.Errorf("gitleaks finds %s in %s; the filter skips it", found[0].RuleID, fr.FilePath)
		case v.Rules != nil:
			narrowed++
			nd := detect.NewDetector(Narrow(cfg, v.Rules))
			nd.MaxDecodeDepth = 0
			if got, want := findingKeys(nd.DetectContext(context.Background(), fr)), findingKeys(found); !slices.Equal(got, want) {
				t.Errorf("%s: rules %v find %v; all rules %v", fr.FilePath, v.Rules, got, want)
			}
		}
	}
	for id, ss := range samples(t, cfg, 10) {
		for _, s := range ss {
			line := src[r.Intn(len(src))]
			check(detect.Fragment{Raw: line + "\n\tkey := \"" + s + "\"\n" + line, FilePath: "a/" + id + ".go"})
			check(detect.Fragment{Raw: "token: " + base64.StdEncoding.EncodeToString([]byte(s)) + "\n", FilePath: "b64.yaml"})
		}
	}
	// A path-only rule finds a file by its name alone.
	check(detect.Fragment{Raw: "binary", FilePath: "certs/client.p12"})
	skipped := 0
	for _, text := range src {
		if f.Check(detect.Fragment{Raw: text, FilePath: "src.go"}, sc).Skip {
			skipped++
		} else {
			check(detect.Fragment{Raw: text, FilePath: "src.go"})
		}
	}
	t.Logf("%d fragments with findings, %d narrowed; %d of %d source fragments skipped", withFindings, narrowed, skipped, len(src))
	if withFindings < 1000 || narrowed < 1000 || skipped < len(src)/2 {
		t.Fatalf("not a test: %d fragments with findings, %d of %d source fragments skipped", withFindings, skipped, len(src))
	}
}

// findingKeys are findings as gitleaks reports them, sorted.
func findingKeys(fs []report.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %d:%d-%d:%d %s %v", f.RuleID, f.StartLine, f.StartColumn, f.EndLine, f.EndColumn, f.Secret, f.Tags))
	}
	sort.Strings(out)
	return out
}

// goSource is Go's own net/http sources, cut in fragments of 40 lines.
func goSource(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(runtime.GOROOT(), "src", "net", "http", "*.go"))
	var out []string
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		for i := 0; i < len(lines); i += 40 {
			out = append(out, strings.Join(lines[i:min(i+40, len(lines))], "\n"))
		}
	}
	if len(out) < 100 {
		t.Fatalf("Go's net/http sources not found under %s", runtime.GOROOT())
	}
	return out
}

// TestCompiledRulesAreCached: a second Load reads what the first compiled;
// a damaged file is compiled again, and the filter works either way.
func TestCompiledRulesAreCached(t *testing.T) {
	cfg := defaultRules(t)
	dir := t.TempDir()
	if _, err := Load(cfg, dir); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "prefilter", "*.db"))
	if len(files) != 1 {
		t.Fatalf("cache holds %v", files)
	}
	for _, damage := range []func(string) error{
		func(string) error { return nil },
		func(p string) error { return os.WriteFile(p, []byte("not a database"), 0o600) },
	} {
		if err := damage(files[0]); err != nil {
			t.Fatal(err)
		}
		f, err := Load(cfg, dir)
		if err != nil {
			t.Fatal(err)
		}
		sc, _ := f.NewScratch()
		if f.Check(detect.Fragment{Raw: "aws_key = AKIAIOSFODNN7REALKEY1"}, sc).Skip || !f.Check(detect.Fragment{Raw: "func main() {}"}, sc).Skip {
			t.Fatal("a filter read from the cache does not filter")
		}
	}
}
