// Package rules loads the rules users declare: leak detection rules (gitleaks
// TOML, so existing .gitleaks.toml and .gitleaksignore files keep working) and
// the mapping of finding kinds to compliance controls.
package rules

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp/syntax"
	"runtime/debug"
	"sort"
	"strings"
	"sync"

	"github.com/pelletier/go-toml/v2"
	"github.com/rs/zerolog"
	"github.com/spf13/viper"
	glconfig "github.com/zricethezav/gitleaks/v8/config"
	"github.com/zricethezav/gitleaks/v8/logging"

	"github.com/vigilsec/vigil/internal/config"
)

func init() {
	// gitleaks logs the secret it found at debug level and reports git
	// errors only as log lines. vigil reports both its own way, so the
	// library's logger is silenced for good.
	logging.Logger = zerolog.Nop()
}

// FileError is a problem in a rule file, at a line when one is known: the
// same error as vigil.yaml's, so every "file:line: message" reads alike.
type FileError = config.Error

// Loads are cached per path for the process and serialised (Translate and
// the cache are not safe for concurrent use).
var (
	loadMu sync.Mutex
	cache  = map[string]*LeakRuleSet{}
)

// LeakRuleSet is a gitleaks configuration read, merged with what it extends
// and checked (every pattern parses), but not compiled: compiling gitleaks'
// 222 default rules takes longer than a whole nightly scan of a repository
// that did not change, which needs only the fingerprint. Config compiles it,
// once, when there is something to scan. gitleaks' own default rules are
// not even read until then: they are part of the binary, and checked by the
// tests.
type LeakRuleSet struct {
	// Path is the file's absolute path, "" for gitleaks' default rules.
	Path string
	// Fingerprint identifies what the rules find: a hash of the gitleaks
	// version that compiles and runs them and of the merged configuration
	// (for the default rules, of their text), so a change to any field, or
	// an upgrade of gitleaks, changes it.
	Fingerprint string

	name string
	data []byte

	parsed bool // under loadMu
	vc     glconfig.ViperConfig
	ids    []string
	perr   error

	once sync.Once
	cfg  glconfig.Config
	err  error
}

// LeakRules returns the compiled gitleaks configuration in path, or gitleaks'
// default rules when path is empty.
func LeakRules(path string) (glconfig.Config, error) {
	s, err := LoadLeakRules(path)
	if err != nil {
		return glconfig.Config{}, err
	}
	return s.Config()
}

// LoadLeakRules reads and checks the gitleaks configuration in path, or
// gitleaks' default rules when path is empty. Results are cached per path
// for the process.
func LoadLeakRules(path string) (*LeakRuleSet, error) {
	loadMu.Lock()
	defer loadMu.Unlock()
	key := path
	if key != "" {
		if abs, err := filepath.Abs(path); err == nil {
			key = abs
		}
	}
	if c, ok := cache[key]; ok {
		return c, nil
	}
	c := &LeakRuleSet{Path: key, name: path}
	h := sha256.New()
	fmt.Fprintf(h, "gitleaks %s\n", gitleaksVersion())
	if path == "" {
		c.name, c.data = "gitleaks default config", []byte(glconfig.DefaultConfig)
		fmt.Fprintf(h, "default rules\n%s", c.data)
	} else {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, &FileError{File: path, Msg: err.Error()}
		}
		c.data = data
		if err := c.parse(); err != nil {
			return nil, err
		}
		// The merged configuration is all Translate reads (no [extend] is
		// left in it), so its encoding stands for the compiled rules. JSON
		// sorts no slice: a reordered file fingerprints differently and is
		// scanned again, which is safe.
		enc, err := json.Marshal(c.vc)
		if err != nil {
			return nil, &FileError{File: path, Msg: err.Error()}
		}
		fmt.Fprintf(h, "merged config\n%s", enc)
	}
	c.Fingerprint = hex.EncodeToString(h.Sum(nil))
	cache[key] = c
	return c, nil
}

// parse reads the file into gitleaks' configuration, merges what it
// extends, and checks it; once (callers hold loadMu).
func (s *LeakRuleSet) parse() error {
	if s.parsed {
		return s.perr
	}
	s.parsed = true
	vc, err := flatten(s.name, s.data, 0)
	if err == nil {
		err = checkPatterns(s.name, s.data, vc)
	}
	if err == nil && len(vc.Rules) == 0 {
		// An empty rule set finds nothing, and a full scan that finds
		// nothing resolves every finding of the source: refuse it.
		err = &FileError{File: s.name, Msg: noRules}
	}
	if err != nil {
		s.perr = err
		return err
	}
	s.vc = vc
	for _, r := range vc.Rules {
		s.ids = append(s.ids, r.ID)
	}
	sort.Strings(s.ids)
	return nil
}

// IDs are the rules' ids, sorted (nil if the rules can't be read).
func (s *LeakRuleSet) IDs() []string {
	loadMu.Lock()
	defer loadMu.Unlock()
	if s.parse() != nil {
		return nil
	}
	return s.ids
}

// Config compiles the rules the first time it is called; every call returns
// the same configuration (or error).
func (s *LeakRuleSet) Config() (glconfig.Config, error) {
	s.once.Do(func() {
		loadMu.Lock()
		defer loadMu.Unlock()
		if s.err = s.parse(); s.err != nil {
			return
		}
		s.cfg, s.err = translate(s.name, s.data, s.vc)
		s.cfg.Path = s.Path
	})
	return s.cfg, s.err
}

// gitleaksVersion is the version of the gitleaks module this binary was
// built with: its detection code decides what the rules find as much as
// the rules do.
var gitleaksVersion = sync.OnceValue(func() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/zricethezav/gitleaks/v8" {
				if d.Replace != nil {
					d = d.Replace
				}
				return d.Version + " " + d.Sum
			}
		}
	}
	return "unknown"
})

// Compiled reports whether Config has run (vigil doctor, and the tests that
// hold a night with nothing new to compiling nothing).
func (s *LeakRuleSet) Compiled() bool {
	loadMu.Lock()
	defer loadMu.Unlock()
	return s.cfg.Rules != nil || s.err != nil
}

const noRules = "the rule set has no rules (an empty file, or every rule disabled): vigil would find nothing and resolve every leak it knows; add rules, or extend the defaults with [extend] useDefault = true"

// maxExtendDepth is gitleaks' limit on chains of [extend].
const maxExtendDepth = 2

// translate compiles a merged config the way the gitleaks CLI compiles a
// config, with one difference in mechanism: [extend] was resolved by flatten,
// not by gitleaks.
//
// gitleaks resolves extends through a package-global depth counter that is
// never reset. The CLI loads one config per process and never notices; vigil
// loads several (one per repository that has its own .gitleaks.toml), and
// from the third extending config on, gitleaks would silently skip the
// extend (dropping every default rule) and stop validating rules. So each
// file is read into gitleaks' ViperConfig with its own viper instance, the
// chain is merged here with gitleaks' extend semantics, and Translate runs
// once on the merged config with no [extend] left, keeping the counter at 0.
func translate(name string, data []byte, vc glconfig.ViperConfig) (cfg glconfig.Config, err error) {
	// Translate compiles each rule's regex with MustCompile and panics on a
	// bad one; a user's typo must be an error, not a crash of the nightly job.
	defer func() {
		if r := recover(); r != nil {
			err = &FileError{File: name, Line: ruleLine(data, fmt.Sprint(r)), Msg: fmt.Sprintf("invalid rule: %v", r)}
		}
	}()
	cfg, err = vc.Translate()
	if err != nil {
		return cfg, &FileError{File: name, Line: ruleLine(data, err.Error()), Msg: err.Error()}
	}
	if len(cfg.Rules) == 0 {
		return cfg, &FileError{File: name, Msg: noRules}
	}
	return cfg, nil
}

// checkPatterns parses every regular expression of vc with Go's RE2 syntax
// before gitleaks compiles them. The RE2 engine vigil is built with logs a
// bad pattern's text straight to stderr before failing; here it is an
// error naming the file, the rule and its line, and not the pattern.
func checkPatterns(name string, data []byte, vc glconfig.ViperConfig) error {
	var errs []error
	check := func(id, what, expr string) {
		if expr == "" {
			return
		}
		if _, err := syntax.Parse(expr, syntax.Perl); err != nil {
			var se *syntax.Error
			code := err.Error()
			if errors.As(err, &se) {
				code = string(se.Code)
			}
			line := ruleLine(data, "`"+expr+"`") // the pattern's own line, else the rule's
			if line == 0 {
				line = ruleLine(data, id+":")
			}
			errs = append(errs, &FileError{File: name, Line: line, Msg: fmt.Sprintf("rule %s: %s is not a valid regular expression: %s", id, what, code)})
		}
	}
	for _, r := range vc.Rules {
		check(r.ID, "regex", r.Regex)
		check(r.ID, "path", r.Path)
		for _, a := range append(r.Allowlists, r.AllowList) {
			if a == nil {
				continue
			}
			for _, x := range a.Regexes {
				check(r.ID, "an allowlist regex", x)
			}
			for _, x := range a.Paths {
				check(r.ID, "an allowlist path", x)
			}
		}
	}
	return errors.Join(errs...)
}

// readViper parses one TOML file into gitleaks' intermediate form. go-toml
// runs first because it reports the line of a syntax error, which viper's
// wrapping loses.
func readViper(name string, data []byte) (glconfig.ViperConfig, error) {
	var vc glconfig.ViperConfig
	// Strict first: gitleaks (through viper) ignores a misspelled key and
	// reports a wrong type without a line; go-toml names both with a line.
	var strict glconfig.ViperConfig
	if err := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields().Decode(&strict); err != nil {
		var de *toml.DecodeError
		var sm *toml.StrictMissingError
		switch {
		case errors.As(err, &sm) && len(sm.Errors) > 0:
			var errs []error
			for _, e := range sm.Errors {
				line, _ := e.Position()
				errs = append(errs, &FileError{File: name, Line: line, Msg: "unknown key " + strings.Join(e.Key(), ".")})
			}
			return vc, errors.Join(errs...)
		case errors.As(err, &de):
			line, _ := de.Position()
			return vc, &FileError{File: name, Line: line, Msg: de.Error()}
		}
		return vc, &FileError{File: name, Msg: err.Error()}
	}
	v := viper.New()
	v.SetConfigType("toml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return vc, &FileError{File: name, Msg: err.Error()}
	}
	if err := v.Unmarshal(&vc); err != nil {
		return vc, &FileError{File: name, Msg: err.Error()}
	}
	// Fold the deprecated single-table allowlists into the list form, as
	// gitleaks does, refusing both at once as gitleaks does.
	if vc.AllowList != nil {
		if len(vc.Allowlists) > 0 {
			return vc, &FileError{File: name, Msg: "[allowlist] is deprecated, it cannot be used alongside [[allowlists]]"}
		}
		vc.Allowlists = append(vc.Allowlists, vc.AllowList)
		vc.AllowList = nil
	}
	for i := range vc.Rules {
		r := &vc.Rules[i]
		if r.AllowList != nil {
			if len(r.Allowlists) > 0 {
				return vc, &FileError{File: name, Line: ruleLine(data, r.ID+":"), Msg: r.ID + ": [rules.allowlist] is deprecated, it cannot be used alongside [[rules.allowlist]]"}
			}
			r.Allowlists = append(r.Allowlists, r.AllowList)
			r.AllowList = nil
		}
	}
	return vc, nil
}

// flatten reads a config and merges the chain it extends into it.
func flatten(name string, data []byte, depth int) (glconfig.ViperConfig, error) {
	vc, err := readViper(name, data)
	if err != nil {
		return vc, err
	}
	ext := vc.Extend
	vc.Extend = glconfig.Extend{}
	if depth >= maxExtendDepth || (!ext.UseDefault && ext.Path == "" && ext.URL == "") {
		return vc, nil
	}
	var parent glconfig.ViperConfig
	switch {
	case ext.UseDefault && ext.Path != "":
		return vc, &FileError{File: name, Msg: "unable to load config due to extend.path and extend.useDefault being set"}
	case ext.UseDefault:
		parent, err = flatten("gitleaks default config", []byte(glconfig.DefaultConfig), depth+1)
	case ext.Path != "":
		p := ext.Path
		if !filepath.IsAbs(p) && name != "gitleaks default config" {
			// Relative to the extending file, as users expect (gitleaks
			// resolves it against the working directory).
			p = filepath.Join(filepath.Dir(name), p)
		}
		b, rerr := os.ReadFile(p)
		if rerr != nil {
			return vc, &FileError{File: name, Msg: fmt.Sprintf("extend.path: %v", rerr)}
		}
		parent, err = flatten(p, b, depth+1)
	default:
		return vc, &FileError{File: name, Msg: "extend.url is not supported (gitleaks does not implement it either)"}
	}
	if err != nil {
		return vc, err
	}
	return merge(vc, parent, ext.DisabledRules), nil
}

// merge applies gitleaks' extend semantics: the parent's rules are added
// unless disabled; a rule the child redefines keeps the parent's fields
// except those the child sets, and gains the child's tags, keywords and
// allowlists; global allowlists are appended.
func merge(child, parent glconfig.ViperConfig, disabled []string) glconfig.ViperConfig {
	off := map[string]bool{}
	for _, id := range disabled {
		off[id] = true
	}
	idx := map[string]int{}
	for i, r := range child.Rules {
		idx[r.ID] = i
	}
	for _, base := range parent.Rules {
		if off[base.ID] {
			continue
		}
		i, ok := idx[base.ID]
		if !ok {
			child.Rules = append(child.Rules, base)
			continue
		}
		cur := child.Rules[i]
		if cur.Description != "" {
			base.Description = cur.Description
		}
		if cur.Entropy != 0 {
			base.Entropy = cur.Entropy
		}
		if cur.SecretGroup != 0 {
			base.SecretGroup = cur.SecretGroup
		}
		if cur.Regex != "" {
			base.Regex = cur.Regex
		}
		if cur.Path != "" {
			base.Path = cur.Path
		}
		base.Tags = append(append([]string{}, base.Tags...), cur.Tags...)
		base.Keywords = append(append([]string{}, base.Keywords...), cur.Keywords...)
		base.Allowlists = append(append(base.Allowlists[:0:0], base.Allowlists...), cur.Allowlists...)
		child.Rules[i] = base
	}
	child.Allowlists = append(child.Allowlists, parent.Allowlists...)
	return child
}

// ruleLine finds the line a gitleaks error is about: the bad expression a
// regexp panic quotes in backticks, or the rule whose id starts the message
// ("<id>: both |regex| and |path| are empty").
func ruleLine(data []byte, msg string) int {
	lines := strings.Split(string(data), "\n")
	if i := strings.Index(msg, "`"); i >= 0 {
		if j := strings.Index(msg[i+1:], "`"); j > 0 {
			expr := msg[i+1 : i+1+j]
			for n, l := range lines {
				if strings.Contains(l, expr) {
					return n + 1
				}
			}
		}
	}
	id, _, ok := strings.Cut(msg, ":")
	if !ok || id == "" {
		return 0
	}
	for n, l := range lines {
		k, v, ok := strings.Cut(l, "=")
		if ok && strings.TrimSpace(k) == "id" && strings.Trim(strings.TrimSpace(v), `"'`) == id {
			return n + 1
		}
	}
	return 0
}

// IgnoreFile reads a .gitleaksignore: one fingerprint per line, `#` comments.
// It is checked here rather than only by gitleaks so that a malformed line is
// an error that names the file and line instead of a silent no-op.
func IgnoreFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &FileError{File: path, Msg: err.Error()}
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if c := strings.Count(line, ":"); c != 2 && c != 3 {
			// The line itself is not echoed: whatever was pasted there may be secret.
			return nil, &FileError{File: path, Line: n, Msg: "not a fingerprint (want file:rule:line or commit:file:rule:line)"}
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, &FileError{File: path, Msg: err.Error()}
	}
	return out, nil
}
