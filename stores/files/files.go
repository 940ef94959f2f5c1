// Package files inventories secrets kept in files: .env files, Kubernetes
// Secret manifests, and pipeline configs. Pipeline configs should hold
// references (secret://...), never values: a literal credential there is an
// inventory.plaintext_config finding, located by file and line.
package files

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/safefile"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/stores"
)

// Store reads secrets from files matched by globs, relative to Root.
type Store struct {
	Root       string
	Env        []string // .env files
	Kubernetes []string // manifests that may hold kind: Secret
	Pipelines  []string // configs that must use secret:// references
	Hasher     stores.Hasher
	Controls   rules.Controls

	reported []finding.Finding
}

// Name implements stores.Store.
func (s *Store) Name() string { return "file" }

// Covers implements stores.Store.
func (s *Store) Covers() []string { return []string{"file:", "k8s:"} }

// Reported returns the plaintext_config findings of the last List.
func (s *Store) Reported() []finding.Finding { return s.reported }

// sensitive names keys that hold credentials.
var sensitive = regexp.MustCompile(`(?i)(pass(word|wd)?|pwd|secret|token|api[_-]?key|private[_-]?key|credential|access[_-]?key|auth|dsn|conn(ection)?[_-]?string)`)

// reference is a value that points at a secret instead of holding one.
var reference = regexp.MustCompile(`^(secret://|vault:|awssm:|arn:aws:secretsmanager:|\$\{.*\}$|\$\(.*\)$|\{\{.*\}\}$|\$[A-Za-z_][A-Za-z0-9_]*$|%[A-Za-z_]+%$)`)

func (s *Store) rel(p string) string {
	if r, err := filepath.Rel(s.Root, p); err == nil && !strings.HasPrefix(r, "..") {
		return filepath.ToSlash(r)
	}
	return filepath.ToSlash(p)
}

// List implements stores.Store. A file that can't be read or parsed is
// an error naming it; the other files are still listed.
func (s *Store) List(ctx context.Context, emit func(stores.Secret)) error {
	s.reported = nil
	var errs []error
	envs, err := safefile.Glob(s.Root, s.Env)
	errs = append(errs, err)
	for _, p := range envs {
		errs = append(errs, s.dotenv(p, emit))
	}
	kube, err := safefile.Glob(s.Root, s.Kubernetes)
	errs = append(errs, err)
	for _, p := range kube {
		errs = append(errs, s.kubernetes(p, emit))
	}
	pipes, err := safefile.Glob(s.Root, s.Pipelines)
	errs = append(errs, err)
	for _, p := range pipes {
		errs = append(errs, s.pipeline(p))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: %w", s.Name(), err)
	}
	return nil
}

func (s *Store) secret(p, path string) stores.Secret {
	sec := stores.Secret{Path: path, Store: s.Name(), Where: p}
	if fi, err := os.Stat(p); err == nil {
		sec.Updated = fi.ModTime()
	}
	return sec
}

func (s *Store) hash(sec *stores.Secret, field, value string) {
	if s.Hasher != nil {
		sec.Hashes = append(sec.Hashes, stores.ValueHash{Version: "file", Field: field, Current: true, Hash: s.Hasher.Hash(value)})
	}
}

// dotenv lists the sensitive keys of a .env file that hold values.
func (s *Store) dotenv(p string, emit func(stores.Secret)) error {
	f, _, err := safefile.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		k, v = strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `"'`)
		if !ok || v == "" || !sensitive.MatchString(k) || reference.MatchString(v) {
			continue
		}
		sec := s.secret(p, "file:"+s.rel(p)+"#"+k)
		s.hash(&sec, "", v)
		emit(sec)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	return nil
}

// kubernetes lists the keys of every kind: Secret document in a manifest.
func (s *Store) kubernetes(p string, emit func(stores.Secret)) error {
	b, err := safefile.ReadFile(p)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name      string `yaml:"name"`
				Namespace string `yaml:"namespace"`
			} `yaml:"metadata"`
			Data       map[string]string `yaml:"data"`
			StringData map[string]string `yaml:"stringData"`
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if doc.Kind != "Secret" {
			continue
		}
		ns := doc.Metadata.Namespace
		if ns == "" {
			ns = "default"
		}
		for _, kv := range []struct {
			m       map[string]string
			encoded bool
		}{{doc.Data, true}, {doc.StringData, false}} {
			for k, v := range kv.m {
				if kv.encoded {
					dv, err := base64.StdEncoding.DecodeString(v)
					if err != nil {
						return fmt.Errorf("%s: Secret %s/%s key %s: data is not base64", p, ns, doc.Metadata.Name, k)
					}
					v = string(dv)
				}
				sec := s.secret(p, "k8s:"+ns+"/"+doc.Metadata.Name+"/"+k)
				s.hash(&sec, "", v)
				emit(sec)
			}
		}
	}
}

// pipeline reports literal credentials under sensitive keys.
func (s *Store) pipeline(p string) error {
	b, err := safefile.ReadFile(p)
	if err != nil {
		return err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for i, c := range n.Content {
				sub := path
				if n.Kind == yaml.SequenceNode {
					sub = fmt.Sprintf("%s[%d]", path, i)
				}
				walk(c, sub)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				key := strings.TrimPrefix(path+"."+k.Value, ".")
				if v.Kind == yaml.ScalarNode && v.Tag == "!!str" && v.Value != "" && sensitive.MatchString(k.Value) && !reference.MatchString(v.Value) {
					s.reported = append(s.reported, s.plaintext(p, key, v))
					continue
				}
				walk(v, key)
			}
		}
	}
	walk(&root, "")
	return nil
}

func (s *Store) plaintext(p, key string, v *yaml.Node) finding.Finding {
	rel := s.rel(p)
	kind := finding.KindInvPlaintextConfig
	return finding.Finding{
		ID:       finding.Fingerprint(kind, rel, key),
		Kind:     kind,
		Severity: finding.High,
		Scanner:  "inventory",
		Resource: fmt.Sprintf("file:%s:%d", rel, v.Line),
		Title:    fmt.Sprintf("literal credential at %s in %s", key, rel),
		Detail: fmt.Sprintf("%s:%d sets %s to a literal value (%s) where a secret:// reference belongs. Move the value to a secret store and reference it.",
			rel, v.Line, key, secrethash.Redact(v.Value)),
		Status:   finding.StatusOpen,
		Evidence: finding.Evidence{"file": rel, "line": v.Line, "key": key, "redacted": secrethash.Redact(v.Value), "store": s.Name()},
		Controls: s.Controls.For(kind),
		Location: &finding.Location{Path: rel, Line: v.Line, Column: v.Column},
	}
}
