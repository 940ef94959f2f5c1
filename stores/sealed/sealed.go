// Package sealed inventories Bitnami Sealed Secrets manifests in files
// (SealedSecret objects, many per file): namespace, name, scope, keys, and
// the file's modification time as their age, from metadata alone. With the
// controller's private key and hashing on, each value is unsealed in memory
// with the sealed-secrets library's own crypto and label rules, hashed, and
// dropped. Declared paths: sealed:NAMESPACE/NAME/KEY. (SealedSecret objects
// in a cluster come with the Kubernetes store.)
package sealed

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	sscrypto "github.com/bitnami-labs/sealed-secrets/pkg/crypto"
	"gopkg.in/yaml.v3"

	"github.com/vigilsec/vigil/internal/safefile"
	"github.com/vigilsec/vigil/stores"
)

// Store is the SealedSecret manifests globs match.
type Store struct {
	dir    string // relative globs and the paths shown are relative to it (the config's directory)
	globs  []string
	keys   map[string]*rsa.PrivateKey // by fingerprint; nil: nothing is unsealed
	hasher stores.Hasher
}

// New returns the store; keys are used only when hasher is set.
func New(dir string, globs []string, keys []*rsa.PrivateKey, hasher stores.Hasher) *Store {
	s := &Store{dir: dir, globs: globs, hasher: hasher}
	if len(keys) > 0 {
		s.keys = map[string]*rsa.PrivateKey{}
		for _, k := range keys {
			fp, _ := sscrypto.PublicKeyFingerprint(&k.PublicKey)
			s.keys[fp] = k
		}
	}
	return s
}

// Name implements stores.Store.
func (s *Store) Name() string { return "sealed" }

// Covers implements stores.Store.
func (s *Store) Covers() []string { return []string{"sealed:"} }

// manifest is the part of a SealedSecret vigil reads.
type manifest struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   meta   `yaml:"metadata"`
	Spec       struct {
		EncryptedData map[string]string `yaml:"encryptedData"`
		Template      struct {
			Metadata meta `yaml:"metadata"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type meta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Annotations map[string]string `yaml:"annotations"`
}

// List implements stores.Store. A file that can't be read or parsed, or a
// value that can't be unsealed, is an error naming it; the other files are
// still listed.
func (s *Store) List(ctx context.Context, emit func(stores.Secret)) error {
	files, err := safefile.Glob(s.dir, s.globs)
	if err != nil {
		return fmt.Errorf("sealed: %w", err)
	}
	var errs []error
	for _, f := range files {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		errs = append(errs, s.file(f, emit))
	}
	return errors.Join(errs...)
}

func (s *Store) file(path string, emit func(stores.Secret)) error {
	rel, err := filepath.Rel(s.dir, path)
	if err != nil {
		rel = path
	}
	data, err := safefile.ReadFile(path)
	if err != nil {
		return fmt.Errorf("sealed %s: %w", rel, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("sealed %s: %w", rel, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var errs []error
	for doc := 1; ; doc++ {
		var n yaml.Node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			// yaml.v3's messages name a line, not the content.
			return errors.Join(append(errs, fmt.Errorf("sealed %s (document %d): %v", rel, doc, err))...)
		}
		var m manifest
		if err := n.Decode(&m); err != nil || m.Kind != "SealedSecret" {
			continue // other Kubernetes objects share the file
		}
		ns := m.Metadata.Namespace
		if ns == "" {
			ns = m.Spec.Template.Metadata.Namespace
		}
		annotations := map[string]string{}
		for _, src := range []map[string]string{m.Metadata.Annotations, m.Spec.Template.Metadata.Annotations} {
			for k, v := range src {
				annotations[k] = v
			}
		}
		scope := scopeOf(annotations)
		keys := make([]string, 0, len(m.Spec.EncryptedData))
		for k := range m.Spec.EncryptedData {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			sec := stores.Secret{Path: fmt.Sprintf("sealed:%s/%s/%s", ns, m.Metadata.Name, k), Store: s.Name(),
				Where: fmt.Sprintf("%s:%d (scope %s)", rel, n.Line, scope), Updated: fi.ModTime(), Versions: 1}
			if s.hasher != nil && s.keys != nil {
				v, err := s.unseal(m.Spec.EncryptedData[k], label(ns, m.Metadata.Name, scope))
				if err != nil {
					errs = append(errs, fmt.Errorf("sealed %s:%d: %s/%s key %s: %v", rel, n.Line, ns, m.Metadata.Name, k, err))
				} else {
					sec.Hashes = []stores.ValueHash{{Version: "current", Current: true, Hash: s.hasher.Hash(string(v))}}
				}
			}
			emit(sec)
		}
	}
	return errors.Join(errs...)
}

// The sealing scope and the label it binds a value to: the sealed-secrets
// library's rule (v1alpha1.SecretScope and EncryptionLabel), written out
// here because that package brings a hundred Kubernetes packages into the
// binary for fifteen lines; TestLabelsMatchTheLibrary holds them equal.
const (
	clusterWide   = "sealedsecrets.bitnami.com/cluster-wide"
	namespaceWide = "sealedsecrets.bitnami.com/namespace-wide"
)

func scopeOf(annotations map[string]string) string {
	switch {
	case annotations[clusterWide] == "true":
		return "cluster-wide"
	case annotations[namespaceWide] == "true":
		return "namespace-wide"
	}
	return "strict"
}

func label(namespace, name, scope string) []byte {
	switch scope {
	case "cluster-wide":
		return []byte("")
	case "namespace-wide":
		return []byte(namespace)
	}
	return []byte(namespace + "/" + name)
}

func (s *Store) unseal(b64 string, label []byte) ([]byte, error) {
	ct, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("the encrypted value is not base64")
	}
	v, err := sscrypto.HybridDecrypt(rand.Reader, s.keys, ct, label)
	if err != nil {
		return nil, errors.New("no private key given unseals it (another controller's key, or a changed namespace, name or scope)")
	}
	return v, nil
}

// readKeys parses PEM RSA private keys (the controller's tls.key; several
// when it has renewed its key).
func readKeys(path string) ([]*rsa.PrivateKey, error) {
	b, err := safefile.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sealed private_key_file: %w", err)
	}
	var out []*rsa.PrivateKey
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
			out = append(out, k)
			continue
		}
		if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
			if rk, ok := k.(*rsa.PrivateKey); ok {
				out = append(out, rk)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("sealed private_key_file %s: no PEM RSA private key in it", path)
	}
	return out, nil
}
