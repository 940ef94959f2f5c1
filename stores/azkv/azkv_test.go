package azkv

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/stores"
	"github.com/vigilsec/vigil/stores/storetest"
)

// The tests run the real azsecrets client against the fake server the SDK
// ships (azsecrets/fake), whose handlers answer from this in-memory vault:
// paging, versions, enabled flags, errors and throttling go through the
// client's own pipeline (retries included).

func TestConformance(t *testing.T) {
	v := testenv.NewAzureKeyVault()
	v.PageSize = 2
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T, h stores.Hasher) stores.Store { return New(v.Client(t), "vigil-test", h) },
		Seed: func(t *testing.T, name, value string) string {
			v.Put(name, value, map[string]string{"owner": "data-platform"}, nil)
			return "azkv:vigil-test/" + name
		},
		Paged: 3,
		Broken: func(t *testing.T) stores.Store {
			// A vault that does not resolve: the client's transport fails.
			c, err := azsecrets.NewClient("https://127.0.0.1:1", &azfake.TokenCredential{}, &azsecrets.ClientOptions{ClientOptions: azcore.ClientOptions{
				Retry: policy.RetryOptions{MaxRetries: 1, RetryDelay: time.Millisecond}}, DisableChallengeResourceVerification: true})
			if err != nil {
				t.Fatal(err)
			}
			return New(c, "gone", nil)
		},
		Denied: func(t *testing.T) stores.Store {
			d := testenv.NewAzureKeyVault()
			d.Deny = true
			return New(d.Client(t), "denied", nil)
		},
		Rotate: func(t *testing.T, path, value string) func() {
			return storetest.AddVersion(t, Writer{Client: v.Client(t)}, strings.TrimPrefix(path, "azkv:vigil-test/"), value)
		},
	})
}

// Versions, tags, expiry and disabled versions: what the inventory reads,
// and what it makes of an expired secret still enabled and one expiring
// within its rotation window.
func TestMetadataAndExpiry(t *testing.T) {
	v := testenv.NewAzureKeyVault()
	old, cur := testenv.FakeAWSKey(), testenv.FakeAWSKey()
	past, soon, far := time.Now().Add(-48*time.Hour), time.Now().Add(10*24*time.Hour), time.Now().Add(400*24*time.Hour)
	v.Put("warehouse-password", old, map[string]string{"owner": "data-platform", "env": "prod", "rotation_days": "30"}, &far)
	v.Put("warehouse-password", cur, map[string]string{"owner": "data-platform", "env": "prod", "rotation_days": "30"}, &far)
	retired := v.Put("warehouse-password", testenv.FakeAWSKey(), nil, &far)
	retired.Enabled = false
	// The retired version was disabled and the one before it is current
	// again: move it to the end, as Key Vault's latest.
	v.Secrets["warehouse-password"] = []*testenv.AzureVersion{v.Secrets["warehouse-password"][0], retired, v.Secrets["warehouse-password"][1]}
	v.Put("legacy-api-key", testenv.FakeAWSKey(), map[string]string{"owner": "billing"}, &past)
	v.Put("reporting-token", testenv.FakeAWSKey(), map[string]string{"owner": "data-platform", "rotation_days": "30"}, &soon)

	h, _ := secrethash.New([]byte(strings.Repeat("k", 32)))
	got := storetest.List(t, New(v.Client(t), "prod-kv", h))
	if len(got) != 3 {
		t.Fatalf("%+v", got)
	}
	w := got[2] // sorted: legacy-api-key, reporting-token, warehouse-password
	if w.Path != "azkv:prod-kv/warehouse-password" || w.Owner != "data-platform" || w.Env != "prod" || w.RotationDays != 30 ||
		w.Versions != 3 || w.ContentType != "password" || w.Expires.IsZero() || w.Created.IsZero() {
		t.Fatalf("metadata %+v", w)
	}
	hashes := map[string]bool{}
	for _, vh := range w.Hashes {
		hashes[fmt.Sprint(vh.Current, vh.Hash)] = true
	}
	// The current value, and the older version still enabled (a leak of it
	// is live); the disabled one can't be read and is not.
	if len(w.Hashes) != 2 || !hashes[fmt.Sprint(true, h.Hash(cur))] || !hashes[fmt.Sprint(false, h.Hash(old))] {
		t.Fatalf("hashes %+v", w.Hashes)
	}

	kinds := storetest.Compared(got, "azkv:prod-kv/")
	want := []string{"inventory.expired azkv:prod-kv/legacy-api-key", string(finding.KindInvRotationOverdue) + " azkv:prod-kv/reporting-token"}
	if strings.Join(kinds, "; ") != strings.Join(want, "; ") {
		t.Fatalf("findings: %v", kinds)
	}
}

// Throttling (429) is retried by the client; a listing that stays
// throttled fails naming the store, never as an empty vault.
func TestThrottled(t *testing.T) {
	v := testenv.NewAzureKeyVault()
	v.Put("a", testenv.FakeAWSKey(), nil, nil)
	v.Throttle = 2
	if got := storetest.List(t, New(v.Client(t), "kv", nil)); len(got) != 1 {
		t.Fatalf("after two 429s: %+v", got)
	}
	v.Throttle = 10
	err := New(v.Client(t), "kv", nil).List(context.Background(), func(stores.Secret) {})
	if err == nil || !strings.Contains(err.Error(), "azkv:kv") || !strings.Contains(err.Error(), "429") {
		t.Fatalf("throttled throughout: %v", err)
	}
}
