package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

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
	// Rotation says how `vigil remediate` makes and proves a new value;
	// without it vigil plans no rotation of this secret (a new value the
	// consumers can't use is an outage, not a fix).
	Rotation *Rotation `yaml:"rotation" json:"rotation,omitempty"`
	File     string    `yaml:"-" json:"-"`
	Line     int       `yaml:"-" json:"-"`
}

// Rotation is how a secret is rotated: a generated value (length and
// charset) or one printed by a command, put in Field of a structured secret,
// proven by Validate before it becomes current.
type Rotation struct {
	Length  int      `yaml:"length" json:"length,omitempty"`
	Charset string   `yaml:"charset" json:"charset,omitempty"` // alnum (default) | hex | base64url | ascii
	Command []string `yaml:"command" json:"command,omitempty"` // prints the new value on stdout
	// Field is the key to replace in a JSON (Secrets Manager) or KV
	// (Vault) secret; required when the secret has more than one.
	Field    string      `yaml:"field" json:"field,omitempty"`
	Validate *Validation `yaml:"validate" json:"validate,omitempty"`
	// GraceDays keeps the previous version usable (AWSPREVIOUS, the
	// previous KV version) for rollback this long (default 7).
	GraceDays int `yaml:"grace_days" json:"grace_days,omitempty"`
}

// Validation proves a new value works before it becomes current: a command
// given the value on stdin (exit 0: valid), or a probe that uses the value
// as a credential ("aws": an access key pair in JSON must pass
// sts:GetCallerIdentity; "vault": a token must look itself up).
type Validation struct {
	Command []string `yaml:"command" json:"command,omitempty"`
	Probe   string   `yaml:"probe" json:"probe,omitempty"`
	Timeout string   `yaml:"timeout" json:"timeout,omitempty"` // default 60s
}

// Charsets a generated value may use.
var Charsets = []string{"alnum", "hex", "base64url", "ascii"}

// Envs a declaration may name.
var Envs = []string{"dev", "stg", "prod"}

// EnvOfWord is the environment one word of a path or a name stands for
// (prod for "prod", "production" and Doppler's "prd"; likewise stg and
// dev), or "" when it names none. Lower case.
func EnvOfWord(w string) string {
	switch w {
	case "prod", "production", "prd":
		return "prod"
	case "stg", "stage", "staging":
		return "stg"
	case "dev", "development":
		return "dev"
	}
	return ""
}

// StorePrefixes are the stores a declared path can name, as the stores
// list them: vault:MOUNT/PATH, awssm:NAME, github:..., file:PATH#KEY,
// k8s:NAMESPACE/NAME/KEY, azkv:VAULT/NAME, gcpsm:PROJECT/NAME,
// sops:PATH#KEY, sealed:NAMESPACE/NAME/KEY, gitlab:GROUP/PROJECT/KEY,
// 1password:VAULT/ITEM#FIELD, doppler:PROJECT/CONFIG/NAME.
var StorePrefixes = []string{"vault", "awssm", "github", "file", "k8s", "azkv", "gcpsm", "sops", "sealed", "gitlab", "1password", "doppler"}

// RotatableStores are the stores `vigil remediate` can write a new value
// to (a remediate handler each).
var RotatableStores = []string{"vault", "awssm", "azkv", "gcpsm", "doppler"}

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
		if err := config.DecodeDocument(path, data, &f); err != nil {
			return nil, err
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
		store, rest, ok := strings.Cut(d.Path, ":")
		switch {
		case !ok || d.Path == "":
			bad("secret %d: path %q needs a store prefix (%s:)", i, d.Path, strings.Join(StorePrefixes, ":, "))
		case !contains(StorePrefixes, store):
			bad("secret %q: unknown store %q (one of %s)", d.Path, store, strings.Join(StorePrefixes, ", "))
		case store == "k8s" && strings.Count(rest, "/") == 1 && strings.Count(rest, "#") == 1:
			// The files store's first spelling of a Secret manifest's key,
			// NAMESPACE/NAME#KEY: the same secret as the cluster's
			// NAMESPACE/NAME/KEY, which both stores now list.
			d.Path = "k8s:" + strings.Replace(rest, "#", "/", 1)
		}
		if d.Env != "" && !contains(Envs, d.Env) {
			bad("secret %q: env is not dev, stg or prod", d.Path)
		}
		if r := d.Rotation; r != nil {
			switch {
			case len(r.Command) > 0 && (r.Length != 0 || r.Charset != ""):
				bad("secret %q: rotation has both a command and a generator (length/charset): choose one", d.Path)
			case r.Charset != "" && !contains(Charsets, r.Charset):
				bad("secret %q: rotation charset is not one of %v", d.Path, Charsets)
			case r.Length != 0 && (r.Length < 16 || r.Length > 4096):
				bad("secret %q: rotation length %d is outside 16..4096", d.Path, r.Length)
			case !contains(RotatableStores, store):
				bad("secret %q: vigil rotates secrets of %s only", d.Path, strings.Join(RotatableStores, ", "))
			case r.GraceDays < 0:
				bad("secret %q: rotation grace_days is negative", d.Path)
			}
			if v := r.Validate; v != nil {
				switch {
				case len(v.Command) == 0 && v.Probe == "":
					bad("secret %q: rotation validate needs a command or a probe", d.Path)
				case len(v.Command) > 0 && v.Probe != "":
					bad("secret %q: rotation validate has both a command and a probe: choose one", d.Path)
				case v.Probe != "" && v.Probe != "aws" && v.Probe != "vault":
					bad("secret %q: rotation validate probe is not aws or vault", d.Path)
				}
				if v.Timeout != "" {
					if _, err := time.ParseDuration(v.Timeout); err != nil {
						bad("secret %q: rotation validate timeout: %v", d.Path, err)
					}
				}
			}
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
