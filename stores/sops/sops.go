// Package sops inventories secrets kept in SOPS-encrypted files (YAML, JSON,
// dotenv) with the getsops/sops library, not the CLI. Without a key it reads
// what the file's own metadata says: each key, the recipients (age, PGP,
// KMS, Vault, Azure, GCP), and lastmodified as the age of the values; a
// value left unencrypted where the file's rules (unencrypted_suffix,
// encrypted_regex, ...) say it must be encrypted is
// inventory.plaintext_config. With an age key file and hashing on, values
// are decrypted in memory, the MAC checked, and hashed at once. Declared
// paths: sops:PATH#KEY (PATH relative to vigil.yaml, nested keys joined
// with ".").
package sops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"filippo.io/age"
	gsops "github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/stores/dotenv"
	"github.com/getsops/sops/v3/stores/json"
	"github.com/getsops/sops/v3/stores/yaml"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/safefile"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/stores"
)

// Store is the SOPS files matched by a set of globs, in a directory and at
// HEAD of git repositories.
type Store struct {
	dir      string // relative globs and the paths shown are relative to it (the config's directory)
	globs    []string
	repos    []Repo
	ids      []age.Identity
	hasher   stores.Hasher
	controls rules.Controls
	reported []finding.Finding
}

// Repo is a git repository whose files at HEAD Paths match.
type Repo struct {
	Name  string   // as in sources.git; declared paths sops:git:NAME/PATH#KEY
	Dir   string   // a work tree or a bare mirror
	Paths []string // globs relative to its top (path.Match)
}

// New returns the store of the files globs match; ids (age identities) are
// used only when hasher is set.
func New(dir string, globs []string, ids []age.Identity, hasher stores.Hasher, controls rules.Controls) *Store {
	return &Store{dir: dir, globs: globs, ids: ids, hasher: hasher, controls: controls}
}

// WithRepos adds repositories whose files at HEAD their globs match.
func (s *Store) WithRepos(repos ...Repo) *Store {
	s.repos = append(s.repos, repos...)
	return s
}

// Name implements stores.Store.
func (s *Store) Name() string { return "sops" }

// Covers implements stores.Store.
func (s *Store) Covers() []string { return []string{"sops:"} }

// Reported returns the plaintext_config findings of the last List.
func (s *Store) Reported() []finding.Finding { return s.reported }

// List implements stores.Store. A file that can't be read or parsed is an
// error naming it; the other files are still listed.
func (s *Store) List(ctx context.Context, emit func(stores.Secret)) error {
	s.reported = nil
	var files []string
	if len(s.globs) > 0 {
		var err error
		if files, err = safefile.Glob(s.dir, s.globs); err != nil {
			return fmt.Errorf("sops: %w", err)
		}
	}
	var errs []error
	for _, f := range files {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := s.file(f, emit); err != nil {
			errs = append(errs, err)
		}
	}
	for _, r := range s.repos {
		if err := s.repo(ctx, r, emit); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// loader returns the sops store for a file's format, by its extension.
func loader(path string) interface {
	LoadEncryptedFile([]byte) (gsops.Tree, error)
} {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return json.NewStore(&config.JSONStoreConfig{})
	case ".env":
		return dotenv.NewStore(&config.DotenvStoreConfig{})
	}
	return yaml.NewStore(&config.YAMLStoreConfig{})
}

func (s *Store) file(path string, emit func(stores.Secret)) error {
	rel, err := filepath.Rel(s.dir, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		rel = path
	}
	data, err := safefile.ReadFile(path)
	if err != nil {
		return fmt.Errorf("sops %s: %w", rel, err)
	}
	return s.parse(rel, data, emit)
}

// parse inventories one SOPS file's content; rel names it in paths and
// messages.
func (s *Store) parse(rel string, data []byte, emit func(stores.Secret)) error {
	tree, err := loader(rel).LoadEncryptedFile(data)
	if err != nil {
		// The library's messages may quote the file ("invalid dotenv input
		// line: ..."), which may be a secret: only a line number is kept.
		where := ""
		if m := lineRE.FindStringSubmatch(err.Error()); m != nil {
			where = ":" + m[1]
		}
		return fmt.Errorf("sops %s%s: not a SOPS-encrypted file vigil can read", rel, where)
	}
	m := tree.Metadata
	var recipients []string
	for _, g := range m.KeyGroups {
		for _, k := range g {
			recipients = append(recipients, k.TypeToIdentifier()+":"+k.ToString())
		}
	}
	type leaf struct {
		key       string
		encrypted bool
	}
	var leaves []leaf
	walk(tree.Branches, nil, func(path []string, v any) {
		str, _ := v.(string)
		leaves = append(leaves, leaf{strings.Join(path, "."), strings.HasPrefix(str, "ENC[")})
		if !strings.HasPrefix(str, "ENC[") && mustEncrypt(m, path) {
			key := strings.Join(path, ".")
			s.reported = append(s.reported, s.plaintext(rel, key, m))
		}
	})
	// Values, decrypted in memory only to hash them.
	values := map[string]string{}
	if s.hasher != nil && len(s.ids) > 0 {
		if err := s.decrypt(&tree); err != nil {
			return fmt.Errorf("sops %s: %w", rel, err)
		}
		walk(tree.Branches, nil, func(path []string, v any) { values[strings.Join(path, ".")] = fmt.Sprint(v) })
	}
	for _, l := range leaves {
		sec := stores.Secret{Path: "sops:" + rel + "#" + l.key, Store: s.Name(), Where: rel + " (" + strings.Join(recipients, ", ") + ")",
			Updated: m.LastModified, Versions: 1}
		if v, ok := values[l.key]; ok && s.hasher != nil {
			sec.Hashes = []stores.ValueHash{{Version: m.LastModified.UTC().Format(time.RFC3339), Current: true, Hash: s.hasher.Hash(v)}}
		}
		emit(sec)
	}
	return nil
}

// decrypt finds the data key with the age identities, decrypts the values
// in place and checks the file's MAC (a file whose values were changed
// without sops fails here rather than hashing what an attacker wrote).
func (s *Store) decrypt(tree *gsops.Tree) error {
	ids := sopsage.ParsedIdentities(s.ids)
	var dataKey []byte
	for _, g := range tree.Metadata.KeyGroups {
		for _, k := range g {
			ak, ok := k.(*sopsage.MasterKey)
			if !ok {
				continue
			}
			ids.ApplyToMasterKey(ak)
			if dk, err := ak.Decrypt(); err == nil {
				dataKey = dk
				break
			}
		}
		if dataKey != nil {
			break
		}
	}
	if dataKey == nil {
		return errors.New("no age identity given decrypts the file's data key")
	}
	if len(tree.Metadata.KeyGroups) > 1 {
		return errors.New("files with several key groups (Shamir) are not decrypted, only inventoried")
	}
	cipher := aes.NewCipher()
	computed, err := tree.Decrypt(dataKey, cipher)
	if err != nil {
		// sops quotes the value it could not decrypt: a plaintext secret
		// left in the file would be echoed. Not a word of it here.
		return errors.New("a value is not in sops' encrypted form (a plaintext value where the rules want one encrypted, or a corrupt file); nothing of this file is hashed")
	}
	mac, err := cipher.Decrypt(tree.Metadata.MessageAuthenticationCode, dataKey, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil || mac != computed {
		return errors.New("MAC mismatch: the file's values were changed outside sops")
	}
	return nil
}

// walk calls leaf for every value of the tree (comments skipped), with its
// key path.
func walk(branches gsops.TreeBranches, path []string, leaf func([]string, any)) {
	for _, b := range branches {
		walkBranch(b, path, leaf)
	}
}

func walkBranch(b gsops.TreeBranch, path []string, leaf func([]string, any)) {
	for _, item := range b {
		if _, isComment := item.Key.(gsops.Comment); isComment {
			continue
		}
		walkValue(item.Value, append(append([]string(nil), path...), fmt.Sprint(item.Key)), leaf)
	}
}

func walkValue(v any, path []string, leaf func([]string, any)) {
	switch x := v.(type) {
	case gsops.TreeBranch:
		walkBranch(x, path, leaf)
	case []any:
		for i, e := range x {
			if _, isComment := e.(gsops.Comment); isComment {
				continue
			}
			walkValue(e, append(append([]string(nil), path...), fmt.Sprint(i)), leaf)
		}
	case gsops.Comment:
	default:
		leaf(path, x)
	}
}

// mustEncrypt is sops' own rule for which values a file encrypts (its
// unencrypted/encrypted suffix and regex settings; comment rules apply to
// comments, which vigil does not inventory).
func mustEncrypt(m gsops.Metadata, path []string) bool {
	match := func(re string) bool {
		for _, p := range path {
			if ok, _ := regexp.MatchString(re, p); ok {
				return true
			}
		}
		return false
	}
	suffix := func(sfx string) bool {
		for _, p := range path {
			if strings.HasSuffix(p, sfx) {
				return true
			}
		}
		return false
	}
	switch {
	case m.UnencryptedSuffix != "":
		return !suffix(m.UnencryptedSuffix)
	case m.EncryptedSuffix != "":
		return suffix(m.EncryptedSuffix)
	case m.UnencryptedRegex != "":
		return !match(m.UnencryptedRegex)
	case m.EncryptedRegex != "":
		return match(m.EncryptedRegex)
	}
	return true
}

func (s *Store) plaintext(rel, key string, m gsops.Metadata) finding.Finding {
	kind := finding.KindInvPlaintextConfig
	path := "sops:" + rel + "#" + key
	rule := "every value"
	switch {
	case m.UnencryptedSuffix != "":
		rule = "keys not ending in " + m.UnencryptedSuffix
	case m.EncryptedSuffix != "":
		rule = "keys ending in " + m.EncryptedSuffix
	case m.UnencryptedRegex != "":
		rule = "keys not matching " + m.UnencryptedRegex
	case m.EncryptedRegex != "":
		rule = "keys matching " + m.EncryptedRegex
	}
	return finding.Finding{
		ID:       finding.Fingerprint(kind, path),
		Kind:     kind,
		Severity: finding.High,
		Scanner:  "inventory",
		Resource: path,
		Title:    fmt.Sprintf("%s is not encrypted in the SOPS file %s", key, rel),
		Detail: fmt.Sprintf("The file's SOPS rules encrypt %s, but %s holds a plaintext value (edited by hand after encryption?). "+
			"Encrypt it with sops, and rotate it: it has been readable by whoever could read the file.", rule, key),
		Status:   finding.StatusOpen,
		Evidence: finding.Evidence{"store": "sops", "path": path, "file": rel, "rule": rule},
		Controls: s.controls.For(kind),
	}
}

var lineRE = regexp.MustCompile(`line (\d+)`)

// readIdentities parses an age key file.
func readIdentities(path string) ([]age.Identity, error) {
	b, err := safefile.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sops age_key_file: %w", err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		// age's message names the line, never the key.
		return nil, fmt.Errorf("sops age_key_file %s: %v", path, err)
	}
	return ids, nil
}
