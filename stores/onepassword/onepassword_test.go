package onepassword

import (
	"context"
	"strings"
	"testing"
	"time"

	op "github.com/1Password/connect-sdk-go/onepassword"

	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/stores"
	"github.com/vigilsec/vigil/stores/storetest"
)

// The tests run the store against testenv.OnePasswordConnect, a Connect
// server answering in connect-sdk-go's own types with the OpenAPI
// description's error bodies.

func client(c *testenv.OnePasswordConnect) *Client {
	cl := NewClient(c.URL, c.Token)
	cl.MaxWait = 10 * time.Millisecond
	return cl
}

func TestConformance(t *testing.T) {
	c := testenv.NewOnePasswordConnect(t)
	vid := c.Vault("Data Platform")
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T, h stores.Hasher) stores.Store { return New(client(c), "ops", nil, h) },
		Seed: func(t *testing.T, name, value string) string {
			c.Item(vid, op.Item{Title: name, Category: op.ApiCredential, Fields: []*op.ItemField{
				{Label: "credential", Type: op.FieldTypeConcealed, Value: value},
				{Label: "username", Type: op.FieldTypeString, Value: "svc-" + name},
			}})
			return "1password:Data Platform/" + name + "#credential"
		},
		Broken: func(t *testing.T) stores.Store { return New(NewClient("http://127.0.0.1:1", "x"), "gone", nil, nil) },
		Denied: func(t *testing.T) stores.Store {
			d := testenv.NewOnePasswordConnect(t)
			d.Vault("Data Platform")
			return New(NewClient(d.URL, "a-token-connect-refuses"), "denied", nil, nil)
		},
	})
}

// Fields by label and type only: the secret ones listed one by one, an
// item with none listed as itself, tags as owner/env/rotation_days; vaults
// chosen by glob; the values only ever as keyed hashes.
func TestItemsFieldsAndTags(t *testing.T) {
	c := testenv.NewOnePasswordConnect(t)
	prod, other := c.Vault("prod-data"), c.Vault("personal")
	pw, key, totp, otherPW := testenv.FakeAWSKey(), testenv.FakeAWSKey(), "otpauth://totp/x?secret="+testenv.FakeAWSKey(), testenv.FakeAWSKey()
	c.Item(prod, op.Item{Title: "warehouse", Category: op.Database, Version: 7, Tags: []string{"owner:data-platform", "env/prod", "rotation_days=30", "finance"},
		UpdatedAt: time.Now().Add(-200 * 24 * time.Hour), Fields: []*op.ItemField{
			{Label: "username", Type: op.FieldTypeString, Value: "etl"},
			{Label: "password", Type: op.FieldTypeConcealed, Purpose: op.FieldPurposePassword, Value: pw},
			{Label: "one-time password", Type: op.FieldTypeOTP, Value: totp},
			{Label: "password", Type: op.FieldTypeConcealed, Section: &op.ItemSection{ID: "replica"}, Value: key},
		}})
	c.Item(prod, op.Item{Title: "runbook", Category: op.SecureNote, Fields: []*op.ItemField{{Label: "notesPlain", Type: op.FieldTypeString, Purpose: op.FieldPurposeNotes, Value: "rotate monthly"}}})
	c.Item(other, op.Item{Title: "mine", Category: op.Password, Fields: []*op.ItemField{{Label: "password", Type: op.FieldTypeConcealed, Value: otherPW}}})
	// Two items with one title: both listed, by title and id.
	twinA := c.Item(prod, op.Item{Title: "twin", Category: op.Password, Fields: []*op.ItemField{{Label: "password", Type: op.FieldTypeConcealed, Value: "a"}}})
	twinB := c.Item(prod, op.Item{Title: "twin", Category: op.Password, Fields: []*op.ItemField{{Label: "password", Type: op.FieldTypeConcealed, Value: "b"}}})

	h, _ := secrethash.New([]byte(strings.Repeat("k", 32)))
	s := New(client(c), "ops", []string{"prod-*"}, h)
	got := storetest.List(t, s)
	var paths []string
	for _, g := range got {
		paths = append(paths, g.Path)
	}
	twins := map[string]bool{"1password:prod-data/twin (" + twinA.ID + ")#password": true, "1password:prod-data/twin (" + twinB.ID + ")#password": true}
	var rest []stores.Secret
	for _, g := range got {
		if twins[g.Path] {
			delete(twins, g.Path)
			continue
		}
		rest = append(rest, g)
	}
	if len(twins) != 0 {
		t.Fatalf("the two items titled twin: %v not listed", twins)
	}
	got, paths = rest, nil
	for _, g := range got {
		paths = append(paths, g.Path)
	}
	want := "1password:prod-data/runbook 1password:prod-data/warehouse#one-time password 1password:prod-data/warehouse#password 1password:prod-data/warehouse#password."
	if j := strings.Join(paths, " "); !strings.HasPrefix(j, want) || len(got) != 4 {
		t.Fatalf("listed %q", j)
	}
	w := got[2]
	if w.Owner != "data-platform" || w.Env != "prod" || w.RotationDays != 30 || w.Versions != 7 || w.Updated.IsZero() ||
		len(w.Hashes) != 1 || w.Hashes[0].Hash != h.Hash(pw) || !strings.Contains(w.Where, "CONCEALED") {
		t.Fatalf("warehouse#password: %+v", w)
	}
	if got[3].Hashes[0].Hash != h.Hash(key) || got[1].Hashes[0].Hash != h.Hash(totp) {
		t.Fatalf("the second password field and the OTP: %+v %+v", got[3], got[1])
	}
	if len(got[0].Hashes) != 0 {
		t.Fatalf("a note's text is not a credential to hash: %+v", got[0])
	}
	if cov := s.Covers(); len(cov) != 1 || cov[0] != "1password:prod-data/" {
		t.Fatalf("covers %v", cov)
	}
	for _, r := range c.Requests() {
		if strings.Contains(r, other) {
			t.Fatalf("a vault the globs leave out was read: %s", r)
		}
	}
	kinds := storetest.Compared(got, "1password:prod-data/")
	if !strings.Contains(strings.Join(kinds, " "), "inventory.rotation_overdue 1password:prod-data/warehouse#password") {
		t.Fatalf("200 days without a change under a 30-day rotation: %v", kinds)
	}
}

// A 429 is waited out (Retry-After); one that does not end, and a vault
// outside the token's scope, fail the listing naming the store, never as
// an empty vault.
func TestThrottledAndOutOfScope(t *testing.T) {
	c := testenv.NewOnePasswordConnect(t)
	vid := c.Vault("prod")
	c.Item(vid, op.Item{Title: "a", Category: op.Password, Fields: []*op.ItemField{{Label: "password", Type: op.FieldTypeConcealed, Value: "x"}}})
	c.Throttle = 3
	if got := storetest.List(t, New(client(c), "ops", nil, nil)); len(got) != 1 {
		t.Fatalf("after three 429s: %+v", got)
	}
	c.Throttle = 50
	err := New(client(c), "ops", nil, nil).List(context.Background(), func(stores.Secret) {})
	if err == nil || !strings.Contains(err.Error(), "1password:ops") || !strings.Contains(err.Error(), "429") {
		t.Fatalf("throttled throughout: %v", err)
	}
	c.Throttle = 0
	c.OutOfScope[vid] = true
	s := New(client(c), "ops", nil, nil)
	err = s.List(context.Background(), func(stores.Secret) {})
	if err == nil || !strings.Contains(err.Error(), ": 403 ") || !strings.Contains(err.Error(), "vault prod") {
		t.Fatalf("out of scope: %v", err)
	}
	if len(s.Covers()) != 0 {
		t.Fatalf("a vault that failed is not covered: %v", s.Covers())
	}
}

// A vault the config names that the token can't see is an error naming it
// (its declared secrets would otherwise go unchecked); the vaults that are
// there are still listed.
func TestNamedVaultMissing(t *testing.T) {
	c := testenv.NewOnePasswordConnect(t)
	vid := c.Vault("prod")
	c.Item(vid, op.Item{Title: "db", Category: op.Password, Fields: []*op.ItemField{{Label: "password", Type: op.FieldTypeConcealed, Value: "x"}}})
	s := New(client(c), "ops", []string{"prod", "prdo"}, nil)
	n := 0
	err := s.List(context.Background(), func(stores.Secret) { n++ })
	if err == nil || !strings.Contains(err.Error(), "no vault prdo") || n != 1 || len(s.Covers()) != 1 {
		t.Fatalf("%v, %d listed, covers %v", err, n, s.Covers())
	}
}
