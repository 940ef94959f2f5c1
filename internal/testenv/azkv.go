package testenv

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets/fake"
)

// No Key Vault can be installed here: the tests run the real azsecrets
// client against the fake server the SDK ships (azsecrets/fake), whose
// handlers answer from this in-memory vault.

// AzureVaultURL is the fake vault's URL.
const AzureVaultURL = "https://vigil-test.vault.azure.net"

// AzureVersion is one version of a secret.
type AzureVersion struct {
	ID      string
	Value   string
	Enabled bool
	created time.Time
	expires *time.Time
	tags    map[string]*string
}

// AzureKeyVault is an in-memory Key Vault behind the azsecrets/fake server
// the SDK ships: the real azsecrets client talks to it through its own
// pipeline (paging, versions, enabled flags, errors, retries).
type AzureKeyVault struct {
	mu       sync.Mutex
	Secrets  map[string][]*AzureVersion // by name, oldest first
	PageSize int
	// Each list request answers 403 (deny) or first 429 (throttle times).
	Deny     bool
	Throttle int
	seq      int
}

// NewAzureKeyVault returns an empty vault (25 secrets a page).
func NewAzureKeyVault() *AzureKeyVault {
	return &AzureKeyVault{Secrets: map[string][]*AzureVersion{}, PageSize: 25}
}

// Put adds a version of name (enabled), returning it.
func (v *AzureKeyVault) Put(name, value string, tags map[string]string, expires *time.Time) *AzureVersion {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seq++
	ver := &AzureVersion{ID: fmt.Sprintf("v%06d", v.seq), Value: value, Enabled: true, created: time.Now().UTC(), expires: expires, tags: map[string]*string{}}
	for k, val := range tags {
		ver.tags[k] = ptr(val)
	}
	v.Secrets[name] = append(v.Secrets[name], ver)
	return ver
}

func ptr[T any](x T) *T { return &x }

func id(name, ver string) *azsecrets.ID {
	s := AzureVaultURL + "/secrets/" + name
	if ver != "" {
		s += "/" + ver
	}
	return ptr(azsecrets.ID(s))
}

func props(name string, ver *AzureVersion, versionID bool) *azsecrets.SecretProperties {
	vid := ""
	if versionID {
		vid = ver.ID
	}
	return &azsecrets.SecretProperties{ID: id(name, vid), Tags: ver.tags, ContentType: ptr("password"),
		Attributes: &azsecrets.SecretAttributes{Enabled: ptr(ver.Enabled), Created: ptr(ver.created), Updated: ptr(ver.created), Expires: ver.expires}}
}

func (v *AzureKeyVault) server() *fake.Server {
	return &fake.Server{
		NewListSecretPropertiesPager: func(*azsecrets.ListSecretPropertiesOptions) (resp azfake.PagerResponder[azsecrets.ListSecretPropertiesResponse]) {
			v.mu.Lock()
			defer v.mu.Unlock()
			if v.Deny {
				resp.AddResponseError(http.StatusForbidden, "Forbidden")
				return
			}
			var names []string
			for n := range v.Secrets {
				names = append(names, n)
			}
			sort.Strings(names)
			if len(names) == 0 {
				resp.AddPage(http.StatusOK, azsecrets.ListSecretPropertiesResponse{}, nil)
			}
			for i := 0; i < len(names); i += v.PageSize {
				var page []*azsecrets.SecretProperties
				for _, n := range names[i:min(i+v.PageSize, len(names))] {
					vs := v.Secrets[n]
					page = append(page, props(n, vs[len(vs)-1], false))
				}
				resp.AddPage(http.StatusOK, azsecrets.ListSecretPropertiesResponse{SecretPropertiesListResult: azsecrets.SecretPropertiesListResult{Value: page}}, nil)
			}
			return
		},
		NewListSecretPropertiesVersionsPager: func(name string, _ *azsecrets.ListSecretPropertiesVersionsOptions) (resp azfake.PagerResponder[azsecrets.ListSecretPropertiesVersionsResponse]) {
			v.mu.Lock()
			defer v.mu.Unlock()
			var page []*azsecrets.SecretProperties
			for _, ver := range v.Secrets[name] {
				page = append(page, props(name, ver, true))
			}
			resp.AddPage(http.StatusOK, azsecrets.ListSecretPropertiesVersionsResponse{SecretPropertiesListResult: azsecrets.SecretPropertiesListResult{Value: page}}, nil)
			return
		},
		GetSecret: func(_ context.Context, name, want string, _ *azsecrets.GetSecretOptions) (resp azfake.Responder[azsecrets.GetSecretResponse], errResp azfake.ErrorResponder) {
			v.mu.Lock()
			defer v.mu.Unlock()
			vs := v.Secrets[name]
			if len(vs) == 0 {
				errResp.SetResponseError(http.StatusNotFound, "SecretNotFound")
				return
			}
			ver := vs[len(vs)-1]
			for _, x := range vs {
				if x.ID == want {
					ver = x
				}
			}
			if !ver.Enabled {
				errResp.SetResponseError(http.StatusForbidden, "Forbidden")
				return
			}
			resp.SetResponse(http.StatusOK, azsecrets.GetSecretResponse{Secret: azsecrets.Secret{ID: id(name, ver.ID), Value: ptr(ver.Value)}}, nil)
			return
		},
		UpdateSecretProperties: func(_ context.Context, name, want string, p azsecrets.UpdateSecretPropertiesParameters, _ *azsecrets.UpdateSecretPropertiesOptions) (resp azfake.Responder[azsecrets.UpdateSecretPropertiesResponse], errResp azfake.ErrorResponder) {
			v.mu.Lock()
			defer v.mu.Unlock()
			for _, x := range v.Secrets[name] {
				if x.ID == want {
					if p.SecretAttributes != nil && p.SecretAttributes.Enabled != nil {
						x.Enabled = *p.SecretAttributes.Enabled
					}
					resp.SetResponse(http.StatusOK, azsecrets.UpdateSecretPropertiesResponse{Secret: azsecrets.Secret{ID: id(name, x.ID)}}, nil)
					return
				}
			}
			errResp.SetResponseError(http.StatusNotFound, "SecretNotFound")
			return
		},
		SetSecret: func(_ context.Context, name string, p azsecrets.SetSecretParameters, _ *azsecrets.SetSecretOptions) (resp azfake.Responder[azsecrets.SetSecretResponse], errResp azfake.ErrorResponder) {
			ver := v.Put(name, *p.Value, nil, nil)
			resp.SetResponse(http.StatusOK, azsecrets.SetSecretResponse{Secret: azsecrets.Secret{ID: id(name, ver.ID)}}, nil)
			return
		},
	}
}

// client is the real azsecrets client over the fake server, with short
// retry delays so that throttling tests stay fast.
// Client is the real azsecrets client over the fake server.
func (v *AzureKeyVault) Client(t testing.TB) *azsecrets.Client {
	t.Helper()
	c, err := azsecrets.NewClient(AzureVaultURL, &azfake.TokenCredential{}, &azsecrets.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: &throttling{v: v, next: fake.NewServerTransport(v.server())},
		Retry:     policy.RetryOptions{MaxRetries: 3, RetryDelay: 5 * time.Millisecond, MaxRetryDelay: 20 * time.Millisecond},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// throttling answers the first v.throttle listings with a real HTTP 429 and
// Retry-After, as Key Vault does past its request limits, before the fake
// server sees them: the client's retry policy is what is under test.
type throttling struct {
	v    *AzureKeyVault
	next policy.Transporter
}

func (t *throttling) Do(req *http.Request) (*http.Response, error) {
	t.v.mu.Lock()
	throttle := req.URL.Path == "/secrets" && t.v.Throttle > 0
	if throttle {
		t.v.Throttle--
	}
	t.v.mu.Unlock()
	if throttle {
		return &http.Response{StatusCode: http.StatusTooManyRequests, Status: "429 Too Many Requests", Request: req,
			Header: http.Header{"Retry-After": {"0"}, "Content-Type": {"application/json"}},
			Body:   io.NopCloser(strings.NewReader(`{"error":{"code":"Throttled","message":"Request was not processed because too many requests were received."}}`))}, nil
	}
	return t.next.Do(req)
}
