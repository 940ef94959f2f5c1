// Package stores is where secrets live: one package per secret store
// (vault, awssm, github, files) that lists its secrets' metadata, hashes
// their values when asked (for leak.live), and, where the store can write,
// gives remediation the primitives a rotation needs. This file is the
// contract they share; the inventory scanner and remediation use it.
package stores

import (
	"context"
	"strings"
	"time"
)

// Secret is what a store says about one secret: metadata, and keyed hashes
// of its values when correlation is on. Never a value.
type Secret struct {
	// Path is the secret's name in the declared inventory's terms, e.g.
	// "vault:secret/prod/warehouse/password" or "awssm:prod/db/password".
	Path string
	// Store names the adapter instance ("vault", "awssm:us-east-1", ...).
	Store string
	// Where adds what a person needs to find it (an ARN, a repository).
	Where string

	Owner        string // from the store's own metadata (custom metadata, tags)
	Env          string
	RotationDays int

	Created      time.Time
	Updated      time.Time // last change of the value
	LastRotated  time.Time
	LastAccessed time.Time // zero when the store does not tell
	Versions     int
	// RotationEnabled is the store's own rotation switch, where it has one.
	RotationEnabled bool
	// Expires is when the store stops serving the value (Azure Key Vault's
	// exp, Secret Manager's expire_time); NotBefore when it starts. Zero:
	// the store has no such date for it.
	Expires, NotBefore time.Time
	// Disabled: the store keeps the secret but will not serve it.
	Disabled bool
	// ContentType is the store's own type hint ("password", "text/plain").
	ContentType string
	// ManagedBy says what makes and keeps this secret when it is not
	// somebody's to declare: a copy synced from another store (External
	// Secrets Operator), one unsealed by a controller, a token the platform
	// made. Such a secret is not called undeclared (its source is declared
	// and checked where it lives).
	ManagedBy string

	// Hashes are keyed hashes of the current and earlier values, for
	// correlating leaks ("this leaked value is still live").
	Hashes []ValueHash
}

// ValueHash is the keyed hash of one value of one version.
type ValueHash struct {
	Version string // "3", "AWSCURRENT:<id>", ...
	Field   string // the key inside a structured secret, "" for a plain one
	Current bool
	Hash    string
}

// Store is one place secrets live. List calls emit once per secret; an error
// means the listing is incomplete (what was emitted is still true).
type Store interface {
	// Name is the store instance's name, as in findings and errors.
	Name() string
	// Covers are the declared-path prefixes a complete listing of this
	// store accounts for ("vault:", "github:org/acme/"): a declared secret
	// under one of them that no store listed is missing. Matching
	// declarations by these, never by the instance's name, is what keeps
	// a store named "main" checking the "vault:" declarations. It is
	// asked after List, so a store may cover what that listing found
	// (a GitHub organisation's repositories).
	Covers() []string
	List(ctx context.Context, emit func(Secret)) error
}

// Reference is a secret that a store says one of its secrets is copied
// from (an ExternalSecret's remote key), as a declared path: the inventory
// scanner calls a reference to a path no store has a dangling one.
type Reference struct {
	Store string // the referring store's name
	From  string // the copy, as a declared path (k8s:NS/NAME)
	Path  string // the source, as a declared path (vault:secret/prod/db)
	Where string // what makes the reference (ExternalSecret NS/NAME through SecretStore NS/S)
}

// Hasher hashes values; stores call it and drop the value at once.
type Hasher interface{ Hash(string) string }

// LastSet is when a secret's value was last set, as well as the store knows.
func (s Secret) LastSet() time.Time {
	for _, t := range []time.Time{s.LastRotated, s.Updated, s.Created} {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// Unmatched returns the names among patterns (path.Match globs) that name
// one thing (no glob characters) and match none of names: a vault or
// project a config names that the store does not have, or the credentials
// may not see. A glob that matches nothing is not an error (a pattern for
// what may come).
func Unmatched(patterns, names []string) []string {
	var out []string
	for _, p := range patterns {
		if strings.ContainsAny(p, `*?[\`) {
			continue
		}
		found := false
		for _, n := range names {
			found = found || n == p
		}
		if !found {
			out = append(out, p)
		}
	}
	return out
}
