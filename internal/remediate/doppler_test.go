package remediate

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/stores/doppler"
)

// A Doppler rotation against the Doppler test server (whose every answer
// and the write's request are checked against Doppler's SDK types): the
// new value is written with check-and-set and validated; a rollback is
// Doppler's own rollback of vigil's config log, and the old value is back
// without vigil having kept it; a failed validation is rolled back the
// same way; a value someone changed after vigil's write is left alone.
func TestRotateDoppler(t *testing.T) {
	ctx := context.Background()
	d := testenv.NewDopplerServer(t)
	old := testenv.FakeAWSKey()
	d.Project("etl", testenv.DopplerConfig{Name: "prd", Environment: "prd", Root: true})
	d.Set("etl", "prd", "DB_PASSWORD", old)
	api := doppler.NewClient(d.URL, d.Token)
	api.MaxWait = 10 * time.Millisecond
	_, h := testenv.Store(t)
	handler := &DopplerSecrets{Stores: map[string]doppler.Writer{"doppler:acme": {API: api}}, Hasher: h, Values: &Values{Dir: t.TempDir()}}
	rot := &rules.Rotation{Length: 32, Validate: &rules.Validation{Command: []string{"sh", "-c", `v=$(cat); [ ${#v} -eq 32 ]`}}}
	action := func() *store.Action {
		return &store.Action{ID: "act-1", State: map[string]any{},
			Spec: encode(RotateSpec{Store: "doppler:acme", Path: "doppler:etl/prd/DB_PASSWORD", Secret: "etl/prd/DB_PASSWORD", Rotation: rot})}
	}
	save := func() error { return nil }
	value := func() string { v, _ := d.Value("etl", "prd", "DB_PASSWORD"); return v }

	a := action()
	if err := handler.Apply(ctx, a, save); err != nil {
		t.Fatal(err)
	}
	if cur := value(); cur == old || len(cur) != 32 || a.AfterHash != h.Hash(cur) || a.BeforeHash != h.Hash(old) {
		t.Fatalf("after the rotation: new value current=%v", cur != old)
	}
	if err := handler.Rollback(ctx, a, save); err != nil {
		t.Fatal(err)
	}
	if value() != old {
		t.Fatal("after the rollback the old value is not back")
	}

	// A validation that fails: the engine rolls back.
	rot.Validate.Command = []string{"false"}
	b := action()
	if err := handler.Apply(ctx, b, save); err == nil {
		t.Fatal("a failed validation passed")
	}
	if err := handler.Rollback(ctx, b, save); err != nil || value() != old {
		t.Fatalf("rollback after a failed validation: %v, old value back=%v", err, value() == old)
	}

	// Someone writes after vigil: the rollback refuses and names it.
	rot.Validate.Command = []string{"true"}
	c := action()
	if err := handler.Apply(ctx, c, save); err != nil {
		t.Fatal(err)
	}
	theirs := testenv.FakeAWSKey()
	d.Set("etl", "prd", "DB_PASSWORD", theirs)
	if err := handler.Rollback(ctx, c, save); err == nil || !strings.Contains(err.Error(), "someone changed it") || value() != theirs {
		t.Fatalf("someone else's value: %v (theirs kept=%v)", err, value() == theirs)
	}

	// The check-and-set: a value changed between vigil's read and its
	// write is not overwritten.
	w := doppler.Writer{API: api}
	if _, err := w.Set(ctx, "etl/prd/DB_PASSWORD", old, testenv.FakeAWSKey()); err == nil || !strings.Contains(err.Error(), "400") || value() != theirs {
		t.Fatalf("a stale check-and-set: %v", err)
	}
	for _, r := range d.Requests() {
		for _, v := range []string{old, theirs} {
			if strings.Contains(r, v) {
				t.Fatalf("a value in a request URL: %s", r)
			}
		}
	}
}
