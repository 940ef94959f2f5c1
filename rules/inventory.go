package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/vigilsec/vigil/internal/config"
)

// Declared is one secret of the declared inventory.
type Declared struct {
	// Path names the secret in its store: "vault:secret/prod/warehouse/password",
	// "awssm:prod/db/password", "github:org/ORG/actions/DEPLOY_TOKEN", "file:config/.env#DB_PASSWORD".
	Path         string   `yaml:"path" json:"path"`
	Owner        string   `yaml:"owner" json:"owner"`
	Env          string   `yaml:"env" json:"env"`
	RotationDays int      `yaml:"rotation_days" json:"rotation_days"`
	UnusedDays   int      `yaml:"unused_days" json:"unused_days"`
	Consumers    []string `yaml:"consumers" json:"consumers"`
	File         string   `yaml:"-" json:"-"`
	Line         int      `yaml:"-" json:"-"`
}

// Envs a declaration may name.
var Envs = []string{"dev", "stg", "prod"}

// LoadInventory reads the declared inventory: YAML (`secrets: [...]`) or the
// seed format secrets.json (a list of {path, owner, env, rotation_days}).
func LoadInventory(path string) ([]Declared, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &FileError{File: path, Msg: err.Error()}
	}
	var out []Declared
	if strings.HasSuffix(path, ".json") {
		if err := json.Unmarshal(data, &out); err != nil {
			var se *json.SyntaxError
			line := 0
			if errors.As(err, &se) {
				line = strings.Count(string(data[:min(int(se.Offset), len(data))]), "\n") + 1
			}
			return nil, &FileError{File: path, Line: line, Msg: err.Error()}
		}
		for i := range out {
			out[i].File = path
		}
	} else {
		var f struct {
			Secrets []yaml.Node `yaml:"secrets"`
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&f); err != nil {
			return nil, config.YAMLError(path, err)
		}
		for _, n := range f.Secrets {
			var d Declared
			if err := config.DecodeStrict(&n, &d); err != nil {
				return nil, config.YAMLError(path, err)
			}
			d.File, d.Line = path, n.Line
			out = append(out, d)
		}
	}
	var errs []error
	seen := map[string]int{}
	for i := range out {
		d := &out[i]
		bad := func(format string, a ...any) {
			errs = append(errs, &FileError{File: path, Line: d.Line, Msg: fmt.Sprintf(format, a...)})
		}
		store, _, ok := strings.Cut(d.Path, ":")
		switch {
		case !ok || d.Path == "":
			bad("secret %d: path %q needs a store prefix (vault:, awssm:, github:, file:, k8s:)", i, d.Path)
		case store != "vault" && store != "awssm" && store != "github" && store != "file" && store != "k8s":
			bad("secret %q: unknown store %q", d.Path, store)
		}
		if d.Env != "" && !contains(Envs, d.Env) {
			bad("secret %q: env %q is not dev, stg or prod", d.Path, d.Env)
		}
		if prev, dup := seen[d.Path]; dup {
			bad("secret %q is already declared (entry %d)", d.Path, prev)
		}
		seen[d.Path] = i + 1
	}
	return out, errors.Join(errs...)
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
