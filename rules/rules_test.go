package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/finding"
)

func TestDefaultRulesLoadAndAreCached(t *testing.T) {
	a, err := LeakRules("")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Rules["aws-access-token"]; !ok || len(a.Rules) < 100 {
		t.Fatalf("default rules: %d", len(a.Rules))
	}
	b, _ := LeakRules("")
	if len(a.Rules) != len(b.Rules) {
		t.Fatal("cache returned other rules")
	}
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	os.WriteFile(p, []byte(body), 0o644)
	return p
}

func TestUserRulesExtendDefaultsRelativeToTheirFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "base.toml"), []byte(`
[extend]
useDefault = true

[[rules]]
id = "internal-token"
regex = '''itk_[a-z0-9]{24}'''
keywords = ["itk_"]
`), 0o644)
	p := filepath.Join(dir, ".gitleaks.toml")
	os.WriteFile(p, []byte(`
[extend]
path = "base.toml"
disabledRules = ["generic-api-key"]
`), 0o644)
	c, err := LeakRules(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Rules["internal-token"]; !ok {
		t.Error("extended path rule missing")
	}
	if _, ok := c.Rules["aws-access-token"]; !ok {
		t.Error("default rules missing with useDefault")
	}
	if _, ok := c.Rules["generic-api-key"]; ok {
		t.Error("disabled rule present")
	}
}

func TestBadRuleFilesNameFileAndLine(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"toml syntax", "title = \"x\"\n\n[[rules]]\nid = \"a\"\nregex = '''abc\n", ":5:"},
		{"bad regex", "[[rules]]\nid = \"a\"\ndescription = \"d\"\nregex = '''(unclosed'''\n", ":4: rule a: regex is not a valid regular expression"},
		{"empty file", "", ": the rule set has no rules"},
		{"no rules", "title = \"narrow\"\n[[allowlists]]\npaths = ['''x''']\n", ": the rule set has no rules"},
		{"unknown key", "[[rules]]\nid = \"a\"\nregex = '''a'''\nsecretgroop = 1\n", ":4: unknown key rules.secretgroop"},
		{"type error", "[[rules]]\nid = \"a\"\nregex = '''a'''\nentropy = \"high\"\n", ":4:"},
		{"rule without regex or path", "\n[[rules]]\nid = \"lonely\"\ndescription = \"d\"\n", ":3: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, "g.toml", tc.body)
			_, err := LeakRules(p)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), p+tc.want) {
				t.Fatalf("error %q, want %q", err, p+tc.want)
			}
		})
	}
}

func TestIgnoreFileValidation(t *testing.T) {
	p := writeFile(t, ".gitleaksignore", "# comment\n\nabc123:a.txt:aws-access-token:1\nconfig.py:generic-api-key:3\nnot a fingerprint\n")
	_, err := IgnoreFile(p)
	if err == nil || !strings.Contains(err.Error(), p+":5:") {
		t.Fatalf("error %v", err)
	}
}

func TestDefaultControlsCoverEveryLeakKind(t *testing.T) {
	c := DefaultControls()
	for _, k := range []finding.Kind{"leak.git", "leak.file", "leak.log", "leak.live"} {
		if len(c.For(k)) == 0 {
			t.Errorf("%s has no controls", k)
		}
	}
}

// gitleaks' own extend keeps a process-global depth that never resets; after
// two extending configs it would drop the default rules of the next ones and
// stop validating. vigil flattens extends itself, so every load is complete.
func TestManyExtendingConfigsInOneProcess(t *testing.T) {
	for i := 0; i < 5; i++ {
		p := writeFile(t, ".gitleaks.toml", "[extend]\nuseDefault = true\n\n[[rules]]\nid = \"generic-api-key\"\n[[rules.allowlists]]\nregexes = ['''^fixture''']\n")
		c, err := LeakRules(p)
		if err != nil {
			t.Fatalf("load %d: %v", i, err)
		}
		if _, ok := c.Rules["aws-access-token"]; !ok {
			t.Fatalf("load %d lost the default rules", i)
		}
		g := c.Rules["generic-api-key"]
		if g.Regex == nil || len(g.Allowlists) < 2 {
			t.Fatalf("load %d: override did not merge into the default rule (regex %v, %d allowlists)", i, g.Regex, len(g.Allowlists))
		}
	}
	p := writeFile(t, "g.toml", "[[rules]]\nid = \"lonely\"\ndescription = \"d\"\n")
	if _, err := LeakRules(p); err == nil || !strings.Contains(err.Error(), p+":2:") {
		t.Fatalf("validation after extends: %v", err)
	}
}

func TestBadIgnoreLineIsNotEchoed(t *testing.T) {
	p := writeFile(t, ".gitleaksignore", "# ok\nghp_"+strings.Repeat("Q", 36)+"\n")
	_, err := IgnoreFile(p)
	if err == nil || !strings.Contains(err.Error(), p+":2: not a fingerprint") || strings.Contains(err.Error(), "QQQQ") {
		t.Fatalf("err %v", err)
	}
}

// The fingerprint is what a night with nothing new is decided on, without
// compiling: equal files have equal ones, and any change to what gitleaks
// compiles (a pattern, a keyword, an entropy, an allowlist, a disabled rule,
// the file a config extends) changes it.
func TestLeakRuleFingerprint(t *testing.T) {
	const base = "[extend]\nuseDefault = true\n\n[[rules]]\nid = \"internal-token\"\nregex = '''itk_[a-z0-9]{24}'''\nkeywords = [\"itk_\"]\nentropy = 3.0\n"
	load := func(body string) *LeakRuleSet {
		t.Helper()
		s, err := LoadLeakRules(writeFile(t, "g.toml", body))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := load(base), load(base)
	if a == b || a.Fingerprint != b.Fingerprint || a.Compiled() {
		t.Fatalf("two copies of one file: same set %v, fingerprints %s %s, compiled %v", a == b, a.Fingerprint, b.Fingerprint, a.Compiled())
	}
	seen := map[string]string{a.Fingerprint: "base"}
	for name, body := range map[string]string{
		"pattern":     strings.Replace(base, "{24}", "{25}", 1),
		"keyword":     strings.Replace(base, `"itk_"`, `"itk-"`, 1),
		"entropy":     strings.Replace(base, "3.0", "3.5", 1),
		"allowlist":   base + "[[rules.allowlists]]\nstopwords = [\"example\"]\n",
		"global":      base + "[[allowlists]]\npaths = ['''vendor/''']\n",
		"disabled":    strings.Replace(base, "useDefault = true\n", "useDefault = true\ndisabledRules = [\"jwt\"]\n", 1),
		"no defaults": strings.Replace(base, "useDefault = true\n", "", 1),
	} {
		s := load(body)
		if prev, ok := seen[s.Fingerprint]; ok {
			t.Errorf("%s: same fingerprint as %s", name, prev)
		}
		seen[s.Fingerprint] = name
	}
	// A config that extends a file changes with that file.
	dir := t.TempDir()
	parent := filepath.Join(dir, "base.toml")
	child := filepath.Join(dir, "child.toml")
	os.WriteFile(child, []byte("[extend]\npath = \"base.toml\"\n"), 0o644)
	os.WriteFile(parent, []byte(strings.Replace(base, "[extend]\nuseDefault = true\n", "", 1)), 0o644)
	first, err := LoadLeakRules(child)
	if err != nil {
		t.Fatal(err)
	}
	c, err := first.Config()
	if err != nil || !first.Compiled() || c.Rules["internal-token"].Regex == nil {
		t.Fatalf("compile: %v", err)
	}
	other := filepath.Join(t.TempDir(), "child.toml") // another process's view: a fresh load
	os.WriteFile(other, []byte("[extend]\npath = \""+parent+"\"\n"), 0o644)
	before, _ := LoadLeakRules(other)
	os.WriteFile(parent, []byte(strings.Replace(strings.Replace(base, "[extend]\nuseDefault = true\n", "", 1), "{24}", "{30}", 1)), 0o644)
	moved := filepath.Join(t.TempDir(), "child.toml")
	os.WriteFile(moved, []byte("[extend]\npath = \""+parent+"\"\n"), 0o644)
	after, _ := LoadLeakRules(moved)
	if before == nil || after == nil || before.Fingerprint == after.Fingerprint {
		t.Error("the extended file changed and the fingerprint did not")
	}
}
