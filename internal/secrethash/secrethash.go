// Package secrethash turns secret values into keyed hashes and redacted
// previews, so that vigil can compare a leaked value with a value held in a
// store without ever keeping either of them.
//
// The hash is HMAC-SHA256 under a per-installation key. A plain SHA-256 would
// let anyone holding the database brute-force short or low-entropy secrets
// (passwords, PINs); the key keeps the hashes useless without it.
package secrethash

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// EnvKey is the environment variable that carries the hashing key (hex or raw,
// at least 32 bytes). It wins over the key file so that CI and CronJobs can
// inject the key from their own secret store.
const EnvKey = "VIGIL_HASH_KEY"

const keyBytes = 32

// Hasher computes keyed hashes of secret values. The zero value is not usable;
// build one with New or Load.
type Hasher struct {
	key []byte
}

// New returns a Hasher for the given key. The key must be at least 32 bytes.
func New(key []byte) (*Hasher, error) {
	if len(key) < keyBytes {
		return nil, fmt.Errorf("hash key is %d bytes, need at least %d", len(key), keyBytes)
	}
	k := make([]byte, len(key))
	copy(k, key)
	return &Hasher{key: k}, nil
}

// ErrNoKey is returned by LoadExisting when neither VIGIL_HASH_KEY nor the
// key file holds a key.
var ErrNoKey = errors.New("no hash key")

// LoadExisting is Load without creating a key: the key of a database that
// already has rows must never be silently replaced, since every audit row
// would then fail verification and stored leak hashes would stop matching.
func LoadExisting(keyFile string) (*Hasher, error) {
	if strings.TrimSpace(os.Getenv(EnvKey)) == "" {
		if _, err := os.Stat(keyFile); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s (and %s is unset)", ErrNoKey, keyFile, EnvKey)
		}
	}
	return Load(keyFile)
}

// Load returns the Hasher for this installation: the key from VIGIL_HASH_KEY if
// set, otherwise from keyFile, which is created with 0600 permissions and a
// random key on first use. An existing key file readable by group or others is
// refused, because anyone who can read it can test guesses against the hashes.
func Load(keyFile string) (*Hasher, error) {
	if v := strings.TrimSpace(os.Getenv(EnvKey)); v != "" {
		if b, err := hex.DecodeString(v); err == nil && len(b) >= keyBytes {
			return New(b)
		}
		return New([]byte(v))
	}
	b, err := os.ReadFile(keyFile)
	switch {
	case err == nil:
		fi, serr := os.Stat(keyFile)
		if serr != nil {
			return nil, fmt.Errorf("stat hash key %s: %w", keyFile, serr)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("hash key %s has mode %v: it must be readable by its owner only (chmod 600)", keyFile, fi.Mode().Perm())
		}
		key, derr := hex.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil {
			return nil, fmt.Errorf("hash key %s: not hex: %w", keyFile, derr)
		}
		return New(key)
	case errors.Is(err, fs.ErrNotExist):
		key := make([]byte, keyBytes)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("generate hash key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(keyFile), 0o700); err != nil {
			return nil, fmt.Errorf("create directory for hash key: %w", err)
		}
		// Written whole to a temporary file, then linked into place: link
		// fails if the name exists, so two first runs racing end up with one
		// key, and neither ever reads a key file half written.
		tmp, err := os.CreateTemp(filepath.Dir(keyFile), ".vigil.key-*")
		if err != nil {
			return nil, fmt.Errorf("create hash key %s: %w", keyFile, err)
		}
		defer os.Remove(tmp.Name())
		if err := tmp.Chmod(0o600); err != nil {
			tmp.Close()
			return nil, fmt.Errorf("create hash key %s: %w", keyFile, err)
		}
		if _, err := tmp.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
			tmp.Close()
			return nil, fmt.Errorf("write hash key %s: %w", keyFile, err)
		}
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return nil, fmt.Errorf("write hash key %s: %w", keyFile, err)
		}
		if err := tmp.Close(); err != nil {
			return nil, fmt.Errorf("write hash key %s: %w", keyFile, err)
		}
		if err := os.Link(tmp.Name(), keyFile); errors.Is(err, fs.ErrExist) {
			return Load(keyFile) // another first run won: use its key
		} else if err != nil {
			return nil, fmt.Errorf("create hash key %s: %w", keyFile, err)
		}
		return New(key)
	default:
		return nil, fmt.Errorf("read hash key %s: %w", keyFile, err)
	}
}

// Hash returns the hex HMAC-SHA256 of value.
func (h *Hasher) Hash(value string) string {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}

// MAC returns the hex HMAC-SHA256 of data under the installation key. The audit
// chain uses it so that a row can't be re-hashed by someone without the key.
func (h *Hasher) MAC(data []byte) string {
	m := hmac.New(sha256.New, h.key)
	m.Write(data)
	return hex.EncodeToString(m.Sum(nil))
}

// Redact returns a preview of a secret that is safe to show: at most four
// characters at each end, and fewer for short values so that never more than a
// third of the value is revealed. Values under 8 characters are fully masked.
func Redact(value string) string {
	r := []rune(value)
	n := len(r)
	if n < 8 {
		return strings.Repeat("*", max(n, 4))
	}
	show := min(4, n/6)
	if show == 0 {
		return "****"
	}
	return string(r[:show]) + "****" + string(r[n-show:])
}

// RedactURL returns rawURL fit to print or store: the user-info part (a
// token or a password, in `https://x-access-token:TOKEN@host/...`) and the
// values of query parameters are masked. A string that does not parse as
// a URL with a scheme is returned as it is only if it holds no "@" before
// its first "/" (scp-like git@host:path); otherwise it is masked whole.
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		host, _, _ := strings.Cut(rawURL, "/")
		if at := strings.LastIndex(host, "@"); at >= 0 && strings.Contains(host[:at], ":") {
			return "****@" + rawURL[at+1:]
		}
		return rawURL
	}
	if u.User != nil {
		u.User = url.User("****")
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q.Set(k, "****")
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}
