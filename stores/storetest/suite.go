// Package storetest is the conformance suite every secret store package
// runs against its real server (OpenBao, moto, the GitHub replay server, a
// directory): the same cases prove a new store as they prove the old ones.
// A store plugs in through a Harness; a case the store has no use for (a
// store that holds no values has nothing to hash) is not run for it, and
// which cases ran is logged.
package storetest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners/inventory"
	"github.com/vigilsec/vigil/scanners/leaks"
	"github.com/vigilsec/vigil/stores"
)

// Harness is how one store package plugs into the suite.
type Harness struct {
	// Open returns the store under test, listing a namespace of its own on
	// the real server (a fresh mount, region or directory), hashing values
	// with h when h is not nil.
	Open func(t *testing.T, h stores.Hasher) stores.Store
	// Seed creates a secret holding value in the namespace Open lists and
	// returns the path the store lists it under. Nil for a store the tests
	// can't write (GitHub's replay server serves fixed examples): Fixed
	// then names paths it is known to list (at least once: the replay
	// repeats its example on every page).
	Seed  func(t *testing.T, name, value string) string
	Fixed []string
	// Paged is how many secrets make the server return more than one page
	// (0: the server does not page, or Fixed already spans pages).
	Paged int
	// HoldsNoValues: the store's API never returns a value (GitHub), so
	// nothing is hashed even when asked.
	HoldsNoValues bool
	// Broken returns the store pointed at something that does not exist or
	// does not answer (a missing mount, a closed port, a missing directory).
	Broken func(t *testing.T) stores.Store
	// Denied returns the store with credentials that may not list (nil: the
	// server has no permission model the tests can use).
	Denied func(t *testing.T) stores.Store
	// Rotate replaces the current value of the secret at path (as Seed
	// returned it) with value through the store's own write primitives, the
	// ones remediation uses, and returns the function that puts the old
	// value back the way a rollback does. Nil: the store can't be written.
	Rotate func(t *testing.T, path, value string) (rollback func())
}

// Run runs every case that applies to h.
func Run(t *testing.T, h Harness) {
	t.Run("lists every secret once, across pages, as the store and under what it covers", func(t *testing.T) {
		var want, values []string
		if h.Seed != nil {
			n := max(h.Paged+1, 3)
			for i := 0; i < n; i++ {
				v := testenv.FakeGitHubToken()
				values = append(values, v)
				want = append(want, h.Seed(t, fmt.Sprintf("conformance-%03d", i), v))
			}
		}
		s := h.Open(t, nil)
		got := List(t, s)
		count := map[string]int{}
		for _, sec := range got {
			count[sec.Path]++
			if sec.Store != s.Name() {
				t.Errorf("%s listed with store %q, not %q", sec.Path, sec.Store, s.Name())
			}
			if !covered(sec.Path, s.Covers()) {
				t.Errorf("%s is not under what %s covers (%v): a declared secret there would never be called missing", sec.Path, s.Name(), s.Covers())
			}
		}
		for _, p := range want {
			if count[p] != 1 {
				t.Errorf("%s listed %d times, want once", p, count[p])
			}
		}
		// A replay server serves the same example on every page, so a
		// fixed path is only known to be listed, not how often.
		for _, p := range h.Fixed {
			if count[p] == 0 {
				t.Errorf("%s not listed", p)
			}
		}
		if len(want)+len(h.Fixed) == 0 {
			t.Fatal("the harness seeds nothing and names no fixed path: nothing is proved")
		}
		noValues(t, got, values)
	})

	t.Run("hashes values only when asked, under the installation key", func(t *testing.T) {
		value, path := testenv.FakeAWSKey(), ""
		if h.Seed != nil {
			path = h.Seed(t, "conformance-hashed", value)
		}
		for _, sec := range List(t, h.Open(t, nil)) {
			if len(sec.Hashes) > 0 {
				t.Fatalf("%s carries hashes though none were asked for", sec.Path)
			}
		}
		key, _ := secrethash.New([]byte(strings.Repeat("k", 32)))
		got := List(t, h.Open(t, key))
		if h.HoldsNoValues {
			for _, sec := range got {
				if len(sec.Hashes) > 0 {
					t.Fatalf("%s carries hashes, but this store holds no values", sec.Path)
				}
			}
			return
		}
		found := false
		for _, sec := range got {
			for _, vh := range sec.Hashes {
				found = found || (sec.Path == path && vh.Current && vh.Hash == key.Hash(value))
			}
		}
		if !found {
			t.Fatalf("the current value of %s was not hashed with the key", path)
		}
		noValues(t, got, []string{value})
	})

	if h.Rotate != nil && h.Seed != nil {
		t.Run("a rotation is what the listing then hashes as current, and a rollback restores it", func(t *testing.T) {
			key, _ := secrethash.New([]byte(strings.Repeat("r", 32)))
			v1, v2 := testenv.FakeAWSKey(), testenv.FakeAWSKey()
			path := h.Seed(t, "conformance-rotated", v1)
			current := func() (cur string, previous []string) {
				for _, sec := range List(t, h.Open(t, key)) {
					if sec.Path != path {
						continue
					}
					for _, vh := range sec.Hashes {
						if vh.Current {
							cur = vh.Hash
						} else {
							previous = append(previous, vh.Hash)
						}
					}
				}
				return cur, previous
			}
			rollback := h.Rotate(t, path, v2)
			cur, prev := current()
			if cur != key.Hash(v2) {
				t.Fatalf("after the rotation the current value of %s is not the new one", path)
			}
			found := false
			for _, p := range prev {
				found = found || p == key.Hash(v1)
			}
			if !found {
				t.Fatalf("after the rotation the old value of %s is not listed as a previous version (a leak of it must still match)", path)
			}
			rollback()
			if cur, _ := current(); cur != key.Hash(v1) {
				t.Fatalf("after the rollback the current value of %s is not the old one", path)
			}
		})
	}
	if h.Broken != nil {
		t.Run("a place that is missing or silent is an error naming the store", func(t *testing.T) {
			s := h.Broken(t)
			err := s.List(context.Background(), func(stores.Secret) {})
			if err == nil || !strings.Contains(err.Error(), s.Name()) {
				t.Fatalf("List: %v (want an error naming %s)", err, s.Name())
			}
		})
	}
	if h.Denied != nil {
		t.Run("permission denied is an error, never an empty listing", func(t *testing.T) {
			s := h.Denied(t)
			n := 0
			err := s.List(context.Background(), func(stores.Secret) { n++ })
			if err == nil || !strings.Contains(err.Error(), s.Name()) {
				t.Fatalf("List without permission: %v, %d secrets (want an error naming %s)", err, n, s.Name())
			}
		})
	}
}

// List lists s completely, sorted by path; an error fails the test.
func List(t *testing.T, s stores.Store) []stores.Secret {
	t.Helper()
	var out []stores.Secret
	if err := s.List(context.Background(), func(sec stores.Secret) { out = append(out, sec) }); err != nil {
		t.Fatalf("List: %v", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func covered(path string, covers []string) bool {
	for _, c := range covers {
		if strings.HasPrefix(path, c) {
			return true
		}
	}
	return false
}

// noValues: a store hands over metadata and keyed hashes, never a value.
func noValues(t *testing.T, got []stores.Secret, values []string) {
	t.Helper()
	dump := fmt.Sprintf("%+v", got)
	for _, v := range values {
		if strings.Contains(dump, v) {
			t.Fatalf("a listed secret carries a value (%s...)", v[:6])
		}
	}
}

// Versioned is a store writer that adds versions (Key Vault, Secret
// Manager: their Writers).
type Versioned interface {
	Current(ctx context.Context, secret string) (version, value string, err error)
	Add(ctx context.Context, secret, value string) (version string, err error)
}

// AddVersion is a Harness.Rotate for such a store: value is added as a new
// version, and the rollback adds the old value again as the newest.
func AddVersion(t *testing.T, w Versioned, secret, value string) (rollback func()) {
	t.Helper()
	ctx := context.Background()
	_, old, err := w.Current(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Add(ctx, secret, value); err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := w.Add(ctx, secret, old); err != nil {
			t.Fatal(err)
		}
	}
}

// Compared returns what the inventory makes of a complete listing of the
// prefix covers when every listed secret is declared (so only what the
// store itself says counts: dates, expiry, owners), as sorted
// "kind resource" lines.
func Compared(got []stores.Secret, covers string) []string {
	c := &inventory.Comparer{Controls: rules.DefaultControls(), DefaultRotationDays: 90, DefaultUnusedDays: 90}
	for _, s := range got {
		c.Declared = append(c.Declared, rules.Declared{Path: s.Path})
	}
	var out []string
	for _, f := range c.Compare(got, map[string]bool{covers: true}) {
		out = append(out, string(f.Kind)+" "+f.Resource)
	}
	sort.Strings(out)
	return out
}

// Detector is the leak engine with the default rules and a test key: the
// detector the stores that scan variable values (GitHub, GitLab) are given.
func Detector(t *testing.T) *leaks.Engine {
	t.Helper()
	h, _ := secrethash.New([]byte(strings.Repeat("g", 32)))
	e, err := leaks.NewEngine("", "", h, rules.DefaultControls())
	if err != nil {
		t.Fatal(err)
	}
	return e
}
