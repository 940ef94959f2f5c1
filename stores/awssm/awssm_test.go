package awssm

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/stores"
	"github.com/vigilsec/vigil/stores/storetest"
)

func client(t *testing.T, endpoint, region string) *sm.Client {
	cfg := testenv.AWSConfig(t, endpoint)
	cfg.Region = region
	return sm.NewFromConfig(cfg)
}

func TestTwoRegionsTagsAndVersions(t *testing.T) {
	endpoint := testenv.Moto(t)
	ctx := context.Background()
	east, west := client(t, endpoint, "us-east-1"), client(t, endpoint, "eu-west-1")
	old, cur := testenv.FakeAWSKey(), testenv.FakeAWSKey()
	if _, err := east.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("prod/db/password"), SecretString: aws.String(`{"username":"etl","password":"` + old + `"}`),
		Tags: []types.Tag{{Key: aws.String("owner"), Value: aws.String("data-platform")}, {Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	// A rotation: the old value moves to AWSPREVIOUS.
	if _, err := east.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("prod/db/password"), SecretString: aws.String(`{"username":"etl","password":"` + cur + `"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := west.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("dev/api/key"), SecretString: aws.String("plain-" + cur)}); err != nil {
		t.Fatal(err)
	}
	h, _ := secrethash.New([]byte(strings.Repeat("k", 32)))
	e := storetest.List(t, New(east, "awssm:us-east-1", h))
	w := storetest.List(t, New(west, "awssm:eu-west-1", nil))
	if len(e) != 1 || len(w) != 1 || e[0].Path != "awssm:prod/db/password" || w[0].Path != "awssm:dev/api/key" {
		t.Fatalf("east %+v west %+v", e, w)
	}
	s := e[0]
	if s.Owner != "data-platform" || s.Env != "prod" || s.Versions != 2 || s.Created.IsZero() || !strings.Contains(s.Where, ":us-east-1:") {
		t.Errorf("metadata %+v", s)
	}
	got := map[string]bool{}
	for _, vh := range s.Hashes {
		got[fmt.Sprintf("%v/%s/%s", vh.Current, vh.Field, vh.Hash)] = true
	}
	for _, want := range []string{"true/password/" + h.Hash(cur), "false/password/" + h.Hash(old), "true/username/" + h.Hash("etl")} {
		if !got[want] {
			t.Errorf("missing %s", want)
		}
	}
	if len(w[0].Hashes) != 0 {
		t.Error("values hashed without a hasher")
	}
}

// TestThrottlingIsRetried puts a proxy in front of moto that answers the
// first ListSecrets calls with ThrottlingException, as AWS does under load.
func TestThrottlingIsRetried(t *testing.T) {
	endpoint := testenv.Moto(t)
	ctx := context.Background()
	c := client(t, endpoint, "us-east-1")
	for i := 0; i < 3; i++ {
		c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String(fmt.Sprint("s", i)), SecretString: aws.String("v")})
	}
	target, _ := url.Parse(endpoint)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var throttled, seen atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".ListSecrets") {
			if seen.Add(1) <= 2 {
				throttled.Add(1)
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				w.Header().Set("X-Amzn-ErrorType", "ThrottlingException")
				w.WriteHeader(400)
				w.Write([]byte(`{"__type":"ThrottlingException","message":"Rate exceeded"}`))
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	got := storetest.List(t, New(client(t, srv.URL, "us-east-1"), "awssm:us-east-1", nil))
	if len(got) != 3 || throttled.Load() != 2 {
		t.Fatalf("%d secrets after %d throttled calls", len(got), throttled.Load())
	}
	// Throttled for good: a clear error naming the store, not a hang.
	seen.Store(-1000)
	cl := client(t, srv.URL, "us-east-1")
	err := New(cl, "awssm:us-east-1", nil).List(ctx, func(stores.Secret) {})
	if err == nil || !strings.Contains(err.Error(), "awssm:us-east-1: ListSecrets") || !strings.Contains(err.Error(), "ThrottlingException") {
		t.Fatalf("persistent throttling: %v", err)
	}
}

// A listing whose page fails more times than the SDK retries one request
// (503s from a proxy in front of moto) is listed again as a whole by the
// stores.Retrying wrapper, and each secret is emitted once.
func TestRetryingWrapperOutlastsTheSDK(t *testing.T) {
	endpoint := testenv.Moto(t)
	ctx := context.Background()
	c := client(t, endpoint, "sa-east-1")
	for i := 0; i < 3; i++ {
		if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String(fmt.Sprint("r", i)), SecretString: aws.String("v")}); err != nil {
			t.Fatal(err)
		}
	}
	target, _ := url.Parse(endpoint)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var failed atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".ListSecrets") && failed.Add(1) <= 4 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	s := New(client(t, srv.URL, "sa-east-1"), "awssm:sa-east-1", nil)
	if err := s.List(ctx, func(stores.Secret) {}); err == nil {
		t.Fatal("the SDK alone outlasted the proxy: make it fail more")
	}
	failed.Store(0)
	var got []string
	err := stores.Retrying(s, 3, 10*time.Millisecond).List(ctx, func(x stores.Secret) { got = append(got, x.Path) })
	if err != nil || len(got) != 3 {
		t.Fatalf("through the wrapper: %v %v (%d failed calls)", got, err, failed.Load())
	}
}
