package doppler

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/jsonapi"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/stores"
	"github.com/vigilsec/vigil/stores/storetest"
)

// The tests run the store against testenv.DopplerServer, whose every answer
// is checked against the response types of Doppler's official Node SDK;
// and the fields the store reads are checked against the same types here.

func client(d *testenv.DopplerServer) *jsonapi.Client {
	c := NewClient(d.URL, d.Token)
	c.MaxWait = 10 * time.Millisecond
	return c
}

// What vigil decodes is what Doppler's SDK declares: a renamed field would
// otherwise read as empty, silently.
func TestReadsOnlyFieldsTheSDKDeclares(t *testing.T) {
	types := testenv.DopplerTypes(t)
	for sdkType, v := range map[string]any{
		"ListResponse": projectsPage{}, "ConfigsListResponse": configsPage{}, "NamesResponse": names{},
		"SecretsListResponse": secretValue{}, "ServiceTokensListResponse": tokens{},
	} {
		fields, err := types.Fields(sdkType)
		if err != nil {
			t.Fatal(err)
		}
		for _, tag := range jsonFields(reflect.TypeOf(v)) {
			if !fields[tag] {
				t.Errorf("vigil reads %q of %s, which %s does not declare", tag, sdkType, testenv.DopplerNodeSDK)
			}
		}
	}
}

// jsonFields are the JSON names a type decodes, nested types included.
func jsonFields(t reflect.Type) []string {
	var out []string
	for t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, name)
		if f.Type.Kind() != reflect.Map { // a map's keys are names (secrets), not fields
			out = append(out, jsonFields(f.Type)...)
		} else if f.Type.Elem().Kind() == reflect.Struct {
			out = append(out, jsonFields(f.Type.Elem())...)
		}
	}
	return out
}

func TestConformance(t *testing.T) {
	d := testenv.NewDopplerServer(t)
	d.Project("etl", testenv.DopplerConfig{Name: "prd", Environment: "prd", Root: true})
	for i := 0; i < 3; i++ { // more projects than fit a page of the Broken case's size
		d.Project("other-"+string(rune('a'+i)), testenv.DopplerConfig{Name: "dev", Environment: "dev", Root: true})
	}
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T, h stores.Hasher) stores.Store {
			return New(client(d), "acme", []string{"etl"}, h, nil)
		},
		Seed: func(t *testing.T, name, value string) string {
			key := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
			d.Set("etl", "prd", key, value)
			return "doppler:etl/prd/" + key
		},
		Broken: func(t *testing.T) stores.Store {
			return New(NewClient("http://127.0.0.1:1", "x"), "gone", nil, nil, nil)
		},
		Denied: func(t *testing.T) stores.Store {
			return New(NewClient(d.URL, "dp.pt.not-a-token-doppler-knows"), "denied", nil, nil, nil)
		},
	})
}

// Projects and configs across pages, names without values, service tokens
// with and without expiry, and a dev token on the production config.
func TestProjectsConfigsAndTokens(t *testing.T) {
	d := testenv.NewDopplerServer(t)
	soon := time.Now().Add(10 * 24 * time.Hour)
	d.Project("etl",
		testenv.DopplerConfig{Name: "dev", Environment: "dev", Root: true, Secrets: map[string]string{"DB_PASSWORD": testenv.FakeAWSKey()}},
		testenv.DopplerConfig{Name: "prd", Environment: "prd", Root: true, Secrets: map[string]string{"DB_PASSWORD": testenv.FakeAWSKey(), "API_KEY": testenv.FakeAWSKey()},
			Tokens: []testenv.DopplerToken{{Name: "airflow", Expires: &soon}, {Name: "dev-laptop"}, {Name: "twin", Expires: &soon}, {Name: "twin", Expires: &soon}}},
		testenv.DopplerConfig{Name: "prd_hotfix", Environment: "prd"},
	)
	d.Project("web", testenv.DopplerConfig{Name: "prd", Environment: "prd", Root: true, Secrets: map[string]string{"X": "y"}})
	// More projects than a page holds: "etl" is on the second page, which a
	// listing that took a short page for the last would never read.
	for i := 0; i < 25; i++ {
		d.Project(fmt.Sprintf("aa-%02d", i))
	}
	d.MaxPerPage = 10
	s := New(client(d), "acme", []string{"etl"}, nil, rules.DefaultControls())
	got := storetest.List(t, s)
	var paths []string
	for _, g := range got {
		paths = append(paths, g.Path)
		if len(g.Hashes) != 0 {
			t.Errorf("hashes without hash_values: %+v", g)
		}
	}
	// Two tokens named twin: both, by name and slug.
	want := "doppler:etl/dev/DB_PASSWORD doppler:etl/prd/API_KEY doppler:etl/prd/DB_PASSWORD doppler:etl/prd/token:airflow doppler:etl/prd/token:dev-laptop" +
		" doppler:etl/prd/token:twin (st-twin-2) doppler:etl/prd/token:twin (st-twin-3)"
	if strings.Join(paths, " ") != want {
		t.Fatalf("listed %v", paths)
	}
	if got[1].Env != "prod" || !strings.Contains(got[1].Where, "config prd (environment prd)") {
		t.Errorf("env: %+v", got[1])
	}
	if air := got[3]; air.Expires.IsZero() || air.Created.IsZero() {
		t.Errorf("token dates: %+v", air)
	}
	for _, r := range d.Requests() {
		if strings.Contains(r, "project=web") {
			t.Errorf("a project the globs leave out was read: %s", r)
		}
		if strings.HasPrefix(r, "/v3/configs/config/secrets?") {
			t.Errorf("values were read without hash_values: %s", r)
		}
	}
	kinds := map[string]finding.Kind{}
	for _, f := range s.Reported() {
		kinds[string(f.Kind)+" "+f.Resource] = f.Kind
		if len(f.Controls) == 0 {
			t.Errorf("%s maps to no control", f.Kind)
		}
	}
	if len(kinds) != 2 || kinds["inventory.token_no_expiry doppler:etl/prd/token:dev-laptop"] == "" || kinds["inventory.env_mismatch doppler:etl/prd/token:dev-laptop"] == "" {
		t.Fatalf("reported %v", kinds)
	}
	if cov := s.Covers(); len(cov) != 1 || cov[0] != "doppler:etl/" {
		t.Fatalf("covers %v", cov)
	}
	cmp := strings.Join(storetest.Compared(got, "doppler:etl/"), "; ")
	if !strings.Contains(cmp, "inventory.rotation_overdue doppler:etl/prd/token:airflow") {
		t.Errorf("a token expiring within its rotation window: %s", cmp)
	}
}

// With hash_values, each computed value is hashed and goes no further.
func TestHashesComputedValues(t *testing.T) {
	d := testenv.NewDopplerServer(t)
	v := testenv.FakeAWSKey()
	d.Project("etl", testenv.DopplerConfig{Name: "prd", Environment: "prd", Root: true, Secrets: map[string]string{"AWS_KEY": v}})
	h, _ := secrethash.New([]byte(strings.Repeat("k", 32)))
	got := storetest.List(t, New(client(d), "acme", nil, h, nil))
	if len(got) != 1 || len(got[0].Hashes) != 1 || got[0].Hashes[0].Hash != h.Hash(v) || !strings.Contains(got[0].Where, "masked") {
		t.Fatalf("%+v", got)
	}
}

// A 429 is waited out; one that does not end, and a project the token may
// not read, fail the listing naming the store, never as an empty project.
func TestThrottledAndForbidden(t *testing.T) {
	d := testenv.NewDopplerServer(t)
	d.Project("etl", testenv.DopplerConfig{Name: "prd", Environment: "prd", Root: true, Secrets: map[string]string{"A": "b"}})
	d.Throttle = 3
	if got := storetest.List(t, New(client(d), "acme", nil, nil, nil)); len(got) != 1 {
		t.Fatalf("after three 429s: %+v", got)
	}
	d.Throttle = 50
	err := New(client(d), "acme", nil, nil, nil).List(context.Background(), func(stores.Secret) {})
	if err == nil || !strings.Contains(err.Error(), "doppler:acme") || !strings.Contains(err.Error(), "429") {
		t.Fatalf("throttled throughout: %v", err)
	}
	d.Throttle = 0
	d.Forbidden["etl"] = true
	s := New(client(d), "acme", nil, nil, nil)
	err = s.List(context.Background(), func(stores.Secret) {})
	if err == nil || !strings.Contains(err.Error(), "403 You do not have access") || len(s.Covers()) != 0 {
		t.Fatalf("forbidden: %v %v", err, s.Covers())
	}
}

// A project the config names that the token can't see is an error naming
// it; the others are still listed.
func TestNamedProjectMissing(t *testing.T) {
	d := testenv.NewDopplerServer(t)
	d.Project("etl", testenv.DopplerConfig{Name: "prd", Environment: "prd", Root: true, Secrets: map[string]string{"A": "b"}})
	s := New(client(d), "acme", []string{"etl", "elt"}, nil, nil)
	n := 0
	err := s.List(context.Background(), func(stores.Secret) { n++ })
	if err == nil || !strings.Contains(err.Error(), "no project elt") || n != 1 || len(s.Covers()) != 1 {
		t.Fatalf("%v, %d listed, covers %v", err, n, s.Covers())
	}
}
