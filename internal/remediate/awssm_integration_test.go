package remediate

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/stores/awssm"
)

const smStore = "awssm:default/us-east-1"

// smFixture is a moto Secrets Manager holding prod/db/password as JSON, a
// store with a leak.live finding for it, and an engine and planner whose
// rotation validates with validate (a shell command reading the new
// password on stdin).
type smFixture struct {
	st      *store.Store
	sm      *sm.Client
	engine  *Engine
	planner *Planner
	old     string
	finding string
}

func newSMFixture(t *testing.T, validate string) *smFixture {
	t.Helper()
	ctx := context.Background()
	cfg := testenv.AWSConfig(t, testenv.Moto(t))
	c := sm.NewFromConfig(cfg)
	old := "pw-" + testenv.FakeAWSKey()
	doc, _ := json.Marshal(map[string]string{"username": "app", "password": old})
	if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("prod/db/password"), SecretString: aws.String(string(doc))}); err != nil {
		t.Fatal(err)
	}
	st, h := testenv.Store(t)
	f := finding.Finding{ID: finding.Fingerprint(finding.KindLeakLive, "x"), Kind: finding.KindLeakLive, Severity: finding.Critical,
		Resource: "awssm:prod/db/password", Title: "leaked value is the current value of awssm:prod/db/password",
		Evidence: finding.Evidence{"store": smStore, "path": "awssm:prod/db/password", "current": true, "field": "password"}}
	seed(t, st, "inventory:leak.live", f)
	vals := &Values{Dir: t.TempDir()}
	eng := &Engine{Store: st, Handlers: map[string]Handler{KindRotateAWSSM: &SecretsManager{
		Stores: map[string]*awssm.Writer{smStore: awssm.NewWriter(c, sts.NewFromConfig(cfg), smStore)}, Hasher: h, Values: vals}}}
	rot := &rules.Rotation{Field: "password", Length: 40, Validate: &rules.Validation{Command: []string{"sh", "-c", validate}}}
	pl := &Planner{Store: st, Engine: eng, Declared: []rules.Declared{{Path: "awssm:prod/db/password", Owner: "data", Rotation: rot}}}
	return &smFixture{st: st, sm: c, engine: eng, planner: pl, old: old, finding: f.ID}
}

// current reads AWSCURRENT by stage, as moto requires after a stage move.
func (fx *smFixture) current(t *testing.T) (version, password string) {
	t.Helper()
	out, err := fx.sm.GetSecretValue(context.Background(), &sm.GetSecretValueInput{SecretId: aws.String("prod/db/password"), VersionStage: aws.String("AWSCURRENT")})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &m); err != nil {
		t.Fatal(err)
	}
	if m["username"] != "app" {
		t.Errorf("the other fields were not kept: %v", m)
	}
	return aws.ToString(out.VersionId), m["password"]
}

func (fx *smFixture) stages(t *testing.T) map[string][]string {
	t.Helper()
	d, err := fx.sm.DescribeSecret(context.Background(), &sm.DescribeSecretInput{SecretId: aws.String("prod/db/password")})
	if err != nil {
		t.Fatal(err)
	}
	return d.VersionIdsToStages
}

func (fx *smFixture) plan(t *testing.T) *Plan {
	t.Helper()
	p, err := fx.planner.Plan(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRotateSecretsManager(t *testing.T) {
	ctx := context.Background()
	// The validation sees the new password, and only it, on stdin.
	fx := newSMFixture(t, `read -r v; [ ${#v} -eq 40 ]`)
	oldVersion, _ := fx.current(t)
	p := fx.plan(t)
	if len(p.Actions) != 1 || p.Actions[0].Kind != KindRotateAWSSM || p.Actions[0].Status != store.ActPlanned {
		t.Fatalf("plan: %+v", p)
	}
	// Planning changes nothing.
	if v, pw := fx.current(t); v != oldVersion || pw != fx.old {
		t.Fatal("planning changed the secret")
	}
	acts, err := fx.engine.Apply(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	a := acts[0]
	if a.Status != store.ActApplied {
		t.Fatalf("status %s: %s", a.Status, a.Error)
	}
	newVersion, pw := fx.current(t)
	if newVersion == oldVersion || pw == fx.old || len(pw) != 40 {
		t.Fatalf("not rotated: version %s -> %s", oldVersion, newVersion)
	}
	stages := fx.stages(t)
	if got := stages[oldVersion]; len(got) != 1 || got[0] != "AWSPREVIOUS" {
		t.Errorf("the old version keeps AWSPREVIOUS for the grace period: %v", stages)
	}
	if awssm.StageOf(stages, "AWSPENDING") != "" {
		t.Errorf("AWSPENDING left behind: %v", stages)
	}
	if a.BeforeHash == "" || a.AfterHash == "" || a.BeforeHash == a.AfterHash {
		t.Errorf("before/after hashes: %q %q", a.BeforeHash, a.AfterHash)
	}
	if got := auditActions(t, fx.st, a.ID); strings.Join(got, " ") != "remediate.planned remediate.applying remediate.applied" {
		t.Errorf("audit: %v", got)
	}

	// Applying the same plan again changes nothing.
	if _, err := fx.engine.Apply(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if v, _ := fx.current(t); v != newVersion || len(fx.stages(t)) != 2 {
		t.Errorf("second apply changed the secret: %s, %v", v, fx.stages(t))
	}
	// Nor does a new plan for the same, still open, finding: it is already
	// remediated and waits for the next scan.
	p2 := fx.plan(t)
	if len(p2.Actions) != 0 || len(p2.Skipped) != 1 || !strings.Contains(p2.Skipped[0].Reason, a.ID) {
		t.Errorf("re-plan: %+v", p2)
	}

	// The rotation retired a leaked value: a rollback would make the leak
	// live again, so it is refused, naming the finding, unless forced.
	if _, err := fx.engine.Rollback(ctx, a.ID, false); !errors.Is(err, ErrReopensLeak) || !strings.Contains(err.Error(), a.Findings[0][:12]) {
		t.Fatalf("rollback of a leak's rotation without force: %v", err)
	}
	if v, _ := fx.current(t); v != newVersion {
		t.Fatalf("a refused rollback changed the secret: %s", v)
	}
	// Rollback restores the old value as AWSCURRENT.
	rb, err := fx.engine.Rollback(ctx, a.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	if rb.Status != store.ActRolledBack {
		t.Fatalf("rollback: %s %s", rb.Status, rb.Error)
	}
	if v, pw := fx.current(t); v != oldVersion || pw != fx.old {
		t.Errorf("rollback left version %s", v)
	}
	if rb.AfterHash != a.BeforeHash {
		t.Errorf("after the rollback the hash should be the one before the rotation")
	}
	assertNoSecret(t, fx.st, fx.old, pw)
}

func TestRotateSecretsManagerFailedValidationKeepsCurrent(t *testing.T) {
	ctx := context.Background()
	fx := newSMFixture(t, `cat >/dev/null; echo "database refused the login" >&2; exit 1`)
	oldVersion, _ := fx.current(t)
	p := fx.plan(t)
	acts, err := fx.engine.Apply(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	a := acts[0]
	if a.Status != store.ActRolledBack || !strings.Contains(a.Error, "did not validate") || !strings.Contains(a.Error, "database refused") {
		t.Fatalf("status %s: %s", a.Status, a.Error)
	}
	if v, pw := fx.current(t); v != oldVersion || pw != fx.old {
		t.Errorf("AWSCURRENT moved to %s", v)
	}
	stages := fx.stages(t)
	if awssm.StageOf(stages, "AWSPENDING") != "" {
		t.Errorf("AWSPENDING not removed: %v", stages)
	}
	if got := auditActions(t, fx.st, a.ID); strings.Join(got, " ") != "remediate.planned remediate.applying remediate.rolling_back remediate.rolled_back" {
		t.Errorf("audit: %v", got)
	}
}

// crashAt stands for a vigil process killed while applying: once the
// action's state records step, the goroutine running the apply stops dead,
// with no rollback and the action left "applying".
type crashAt struct {
	Handler
	step string
}

func (c crashAt) Apply(ctx context.Context, a *store.Action, save func() error) error {
	return c.Handler.Apply(ctx, a, func() error {
		err := save()
		if a.State["step"] == c.step {
			runtime.Goexit()
		}
		return err
	})
}

func TestInterruptedApplyIsRolledBackByTheNext(t *testing.T) {
	ctx := context.Background()
	fx := newSMFixture(t, `cat >/dev/null`)
	oldVersion, _ := fx.current(t)
	p := fx.plan(t)
	real := fx.engine.Handlers[KindRotateAWSSM]
	dying := &Engine{Store: fx.st, Handlers: map[string]Handler{KindRotateAWSSM: crashAt{real, "promote"}}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = dying.Apply(ctx, p.ID)
	}()
	<-done
	a := action(t, fx.st, p.Actions[0].ID)
	if a.Status != store.ActApplying {
		t.Fatalf("the crash should leave the action applying, not %s", a.Status)
	}
	if awssm.StageOf(fx.stages(t), "AWSPENDING") == "" {
		t.Fatal("the crash happened after AWSPENDING was written; it should be there")
	}
	// Another apply holding the lock (a live process: this one's pid)
	// keeps this one out.
	if err := fx.st.Lock(ctx, LockName, "apply:concurrent", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.engine.Apply(ctx, p.ID); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("apply while another holds the lock: %v", err)
	}
	if a := action(t, fx.st, p.Actions[0].ID); a.Status != store.ActApplying {
		t.Fatalf("a refused apply touched the action: %s", a.Status)
	}
	if err := fx.st.Unlock(ctx, LockName, "apply:concurrent"); err != nil {
		t.Fatal(err)
	}
	acts, err := fx.engine.Apply(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if acts[0].Status != store.ActRolledBack || !strings.Contains(acts[0].Error, "interrupted") {
		t.Fatalf("after recovery: %s %s", acts[0].Status, acts[0].Error)
	}
	if v, pw := fx.current(t); v != oldVersion || pw != fx.old {
		t.Errorf("AWSCURRENT is %s after recovery", v)
	}
	if awssm.StageOf(fx.stages(t), "AWSPENDING") != "" {
		t.Error("recovery left AWSPENDING")
	}
}
