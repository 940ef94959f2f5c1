package gcpsm

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/stores"
	"github.com/vigilsec/vigil/stores/storetest"
)

// The real client library over gRPC to an in-process server implementing
// the official SecretManagerServiceServer (internal/testenv).
func TestConformance(t *testing.T) {
	s := testenv.NewSecretManager(t)
	s.PageSize = 2
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T, h stores.Hasher) stores.Store { return New(s.Client(t), "vigil-test", h) },
		Seed: func(t *testing.T, name, value string) string {
			s.Put("vigil-test", name, value, map[string]string{"owner": "data-platform"}, nil)
			return "gcpsm:vigil-test/" + name
		},
		Paged: 3,
		Broken: func(t *testing.T) stores.Store {
			closed := testenv.NewSecretManager(t)
			c := closed.Client(t)
			c.Close() // a connection that is gone
			return New(c, "gone", nil)
		},
		Denied: func(t *testing.T) stores.Store {
			d := testenv.NewSecretManager(t)
			d.Deny = true
			return New(d.Client(t), "denied", nil)
		},
		Rotate: func(t *testing.T, path, value string) func() {
			return storetest.AddVersion(t, Writer{Client: s.Client(t)}, "projects/vigil-test/secrets/"+strings.TrimPrefix(path, "gcpsm:vigil-test/"), value)
		},
	})
}

// Labels, versions and their states, expiry: what the inventory reads, and
// what it makes of an expired secret and one expiring within its window.
func TestMetadataAndExpiry(t *testing.T) {
	s := testenv.NewSecretManager(t)
	old, cur := testenv.FakeAWSKey(), testenv.FakeAWSKey()
	past, soon := time.Now().Add(-24*time.Hour), time.Now().Add(5*24*time.Hour)
	labels := map[string]string{"owner": "data-platform", "env": "prod", "rotation_days": "30"}
	s.Put("data-prod", "warehouse-password", old, labels, nil)
	s.Put("data-prod", "warehouse-password", cur, labels, nil)
	disabled := s.Put("data-prod", "warehouse-password", testenv.FakeAWSKey(), labels, nil)
	s.Put("data-prod", "warehouse-password", cur, labels, nil) // latest again
	w := Writer{Client: s.Client(t)}
	if err := w.Enable(context.Background(), "", disabled, false); err != nil {
		t.Fatal(err)
	}
	s.Put("data-prod", "legacy-token", testenv.FakeAWSKey(), map[string]string{"owner": "billing"}, &past)
	s.Put("data-prod", "reporting-token", testenv.FakeAWSKey(), map[string]string{"owner": "data-platform", "rotation_days": "30"}, &soon)

	h, _ := secrethash.New([]byte(strings.Repeat("k", 32)))
	got := storetest.List(t, New(s.Client(t), "data-prod", h))
	if len(got) != 3 {
		t.Fatalf("%+v", got)
	}
	wp := got[2]
	if wp.Path != "gcpsm:data-prod/warehouse-password" || wp.Owner != "data-platform" || wp.Env != "prod" || wp.RotationDays != 30 ||
		wp.Versions != 4 || wp.Created.IsZero() || wp.Updated.IsZero() {
		t.Fatalf("metadata %+v", wp)
	}
	var current, previous []string
	for _, vh := range wp.Hashes {
		if vh.Current {
			current = append(current, vh.Hash)
		} else {
			previous = append(previous, vh.Hash)
		}
	}
	sort.Strings(previous)
	// Three enabled versions (the latest, and two older ones holding old and
	// cur); the disabled one is not read.
	want := []string{h.Hash(cur), h.Hash(old)}
	sort.Strings(want)
	if fmt.Sprint(current) != fmt.Sprint([]string{h.Hash(cur)}) || fmt.Sprint(previous) != fmt.Sprint(want) {
		t.Fatalf("hashes: current %v previous %v", current, previous)
	}
	kinds := storetest.Compared(got, "gcpsm:data-prod/")
	if strings.Join(kinds, "; ") != "inventory.expired gcpsm:data-prod/legacy-token; "+string(finding.KindInvRotationOverdue)+" gcpsm:data-prod/reporting-token" {
		t.Fatalf("findings: %v", kinds)
	}
}

// ResourceExhausted (the service's throttling) is transient: the listing is
// retried as a whole by the store layer; kept up, it is an error naming the
// store.
func TestThrottled(t *testing.T) {
	s := testenv.NewSecretManager(t)
	s.Put("p", "a", testenv.FakeAWSKey(), nil, nil)
	s.Throttle = 1
	st := stores.Retrying(New(s.Client(t), "p", nil), 3, time.Millisecond)
	if got := storetest.List(t, st); len(got) != 1 {
		t.Fatalf("after one throttled listing: %+v", got)
	}
	s.Throttle = 10
	err := st.List(context.Background(), func(stores.Secret) {})
	if err == nil || !strings.Contains(err.Error(), "gcpsm:p") || !strings.Contains(err.Error(), "ResourceExhausted") || !stores.Transient(err) {
		t.Fatalf("throttled throughout: %v", err)
	}
}
