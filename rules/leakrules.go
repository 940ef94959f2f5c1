// Package rules loads the rules users declare: leak detection rules (gitleaks
// TOML, so existing .gitleaks.toml and .gitleaksignore files keep working) and
// the mapping of finding kinds to compliance controls.
package rules

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/pelletier/go-toml/v2"
	"github.com/rs/zerolog"
	"github.com/spf13/viper"
	glconfig "github.com/zricethezav/gitleaks/v8/config"
	"github.com/zricethezav/gitleaks/v8/logging"
)

func init() {
	// gitleaks logs the secret it found at debug level and reports git
	// errors only as log lines. vigil reports both its own way, so the
	// library's logger is silenced for good.
	logging.Logger = zerolog.Nop()
}

// FileError is a problem in a rule file, at a line when one is known.
type FileError struct {
	File string
	Line int
	Msg  string
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// gitleaks' config loading goes through viper's global instance (extend
// paths and useDefault read it again), so loads are serialised and cached.
var (
	loadMu sync.Mutex
	cache  = map[string]glconfig.Config{}
)

// LeakRules returns the gitleaks configuration in path, or gitleaks' default
// rules when path is empty. Results are cached per path for the process.
func LeakRules(path string) (glconfig.Config, error) {
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
	var (
		data []byte
		err  error
	)
	if path == "" {
		data = []byte(glconfig.DefaultConfig)
	} else if data, err = os.ReadFile(path); err != nil {
		return glconfig.Config{}, &FileError{File: path, Msg: err.Error()}
	}
	c, err := translate(path, data)
	if err != nil {
		return glconfig.Config{}, err
	}
	c.Path = key
	cache[key] = c
	return c, nil
}

// translate parses TOML itself first (go-toml reports the line of a syntax
// error, which viper's wrapping loses), then hands the document to gitleaks
// so that extend, allowlists and rule validation behave exactly as in the
// gitleaks CLI.
func translate(path string, data []byte) (cfg glconfig.Config, err error) {
	name := path
	if name == "" {
		name = "gitleaks default config"
	}
	var probe map[string]any
	if err := toml.Unmarshal(data, &probe); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, _ := de.Position()
			return cfg, &FileError{File: name, Line: line, Msg: de.Error()}
		}
		return cfg, &FileError{File: name, Msg: err.Error()}
	}
	// Translate compiles each rule's regex with MustCompile and panics on a
	// bad one; a user's typo must be an error, not a crash of the nightly job.
	defer func() {
		if r := recover(); r != nil {
			err = &FileError{File: name, Line: ruleLine(data, fmt.Sprint(r)), Msg: fmt.Sprintf("invalid rule: %v", r)}
		}
	}()
	if path != "" {
		// extend.path in a config is relative to that config, as users
		// expect; gitleaks resolves it against the working directory.
		if ext, ok := probe["extend"].(map[string]any); ok {
			if p, ok := ext["path"].(string); ok && p != "" && !filepath.IsAbs(p) {
				ext["path"] = filepath.Join(filepath.Dir(path), p)
				if data, err = toml.Marshal(probe); err != nil {
					return cfg, &FileError{File: name, Msg: err.Error()}
				}
			}
		}
	}
	viper.Reset()
	viper.SetConfigType("toml")
	if err := viper.ReadConfig(strings.NewReader(string(data))); err != nil {
		return cfg, &FileError{File: name, Msg: err.Error()}
	}
	var vc glconfig.ViperConfig
	if err := viper.Unmarshal(&vc); err != nil {
		return cfg, &FileError{File: name, Msg: err.Error()}
	}
	cfg, err = vc.Translate()
	if err != nil {
		return cfg, &FileError{File: name, Line: ruleLine(data, err.Error()), Msg: err.Error()}
	}
	return cfg, nil
}

// ruleLine finds the line of the rule a gitleaks error message names
// ("rule |id|: ..." or a regex quoted in a panic), so the error points at it.
func ruleLine(data []byte, msg string) int {
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "id") {
			if v := strings.Trim(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(t, "id")), "=")), `"'`); v != "" && strings.Contains(msg, v) {
				return i + 1
			}
		}
	}
	// A panic from regexp names the bad expression: find the regex line.
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
			return nil, &FileError{File: path, Line: n, Msg: fmt.Sprintf("%q is not a fingerprint (want file:rule:line or commit:file:rule:line)", line)}
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, &FileError{File: path, Msg: err.Error()}
	}
	return out, nil
}
