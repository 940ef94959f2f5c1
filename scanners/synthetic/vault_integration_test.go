package synthetic

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/ledger"

	"github.com/openbao/openbao/api/v2"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/rules"
)

// baoSetup gives a test its own KV v2 mount on the OpenBao dev server, with
// a dev and a prod secret, a canary path, and two policies: "dev" (what the
// ETL job needs) and "wide" (that plus all of prod).
func baoSetup(t *testing.T) (root *api.Client, m string, values []string) {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = testenv.OpenBao(t)
	root, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	root.SetToken(testenv.OpenBaoToken)
	b := make([]byte, 4)
	rand.Read(b)
	m = "kv-" + hex.EncodeToString(b)
	if err := root.Sys().Mount(m, &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"dev/etl/db", "prod/etl/db"} {
		v := "pw-" + testenv.FakeAWSKey()
		values = append(values, v)
		if _, err := root.Logical().Write(m+"/data/"+p, map[string]any{"data": map[string]any{"password": v}}); err != nil {
			t.Fatal(err)
		}
	}
	dev := fmt.Sprintf(`path "%[1]s/data/dev/etl/*" { capabilities = ["read"] }
path "%[1]s/metadata/dev/etl" { capabilities = ["list"] }
path "%[1]s/data/canary/etl" { capabilities = ["create", "update"] }`, m)
	if err := root.Sys().PutPolicy(m+"-dev", dev); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().PutPolicy(m+"-wide", dev+fmt.Sprintf("\npath \"%s/data/prod/*\" { capabilities = [\"read\"] }", m)); err != nil {
		t.Fatal(err)
	}
	return root, m, values
}

func vaultIdentities(m string, names ...string) string {
	var b strings.Builder
	b.WriteString("identities:\n")
	for _, n := range names {
		fmt.Fprintf(&b, `  - name: etl-%[2]s
    kind: vault
    vault: main
    policies: [%[1]s-%[2]s]
    probes:
      canary: [%[1]s/data/canary/etl]
      allow:
        - read %[1]s/data/dev/etl/db
        - list %[1]s/metadata/dev/etl
        - write %[1]s/data/canary/etl
      deny:
        - read %[1]s/data/prod/etl/db
`, m, n)
	}
	return b.String()
}

func TestVaultLeastPrivilege(t *testing.T) {
	root, m, values := baoSetup(t)
	st, _ := testenv.Store(t)
	iss := &capture{Issuer: &VaultIssuer{Store: "main", Client: root}}
	s := &Scanner{Identities: loadIdentities(t, vaultIdentities(m, "dev", "wide")), Issuers: map[string]Issuer{"vault:main": iss},
		Ledger: st, Controls: rules.DefaultControls(), RevokeWait: 2 * time.Second}
	res := scan(t, s)
	for _, r := range res {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Source, r.Err)
		}
	}
	if fs := res["synthetic:etl-dev"].Findings; len(fs) != 0 {
		t.Errorf("exact policy: %+v", fs)
	}
	if k := kinds(res["synthetic:etl-wide"].Findings); len(k) != 1 || strings.Join(k[finding.KindSynDeniedAllowed], ",") != "read "+m+"/data/prod/etl/db" {
		t.Errorf("wide policy: %v", k)
	}
	for name, rec := range ledgerRows(t, st) {
		if rec.Status != ledger.Cleaned || rec.Revocation["verified"] != true || !strings.HasPrefix(rec.CredentialID, "") || rec.CredentialID == "" ||
			rec.Scope["num_uses"] != float64(5) || len(rec.Probes) != 4 {
			t.Errorf("%s: %+v", name, rec)
		}
		// The token is gone: its accessor no longer resolves, and the
		// token itself is refused.
		if _, err := root.Auth().Token().LookupAccessor(rec.CredentialID); err == nil {
			t.Errorf("%s: token %s still exists after revocation", name, rec.CredentialID)
		}
		if out := iss.creds[name].Probe(context.Background(), rules.Probe{Action: "read", Target: m + "/data/dev/etl/db"}); out.Result != Denied {
			t.Errorf("%s: probe after revocation: %+v", name, out)
		}
	}
	// The canary write wrote a marker, not data.
	c, _ := root.Logical().Read(m + "/data/canary/etl")
	if c == nil || fmt.Sprint(c.Data["data"]) != "map[vigil_canary:run-test]" {
		t.Errorf("canary: %+v", c)
	}
	var canaries []string
	for _, c := range iss.creds {
		canaries = append(canaries, c.(*vaultCredential).c.Token())
	}
	assertAbsent(t, st, append(canaries, values...)...)
}

// When revocation does not take, the check says so.
func TestVaultNotRevoked(t *testing.T) {
	root, m, _ := baoSetup(t)
	st, _ := testenv.Store(t)
	iss := &capture{Issuer: &VaultIssuer{Store: "main", Client: root}, sabotage: true}
	s := &Scanner{Identities: loadIdentities(t, vaultIdentities(m, "dev")), Issuers: map[string]Issuer{"vault:main": iss},
		Ledger: st, Controls: rules.DefaultControls(), RevokeWait: time.Second}
	r := scan(t, s)["synthetic:etl-dev"]
	if len(r.Findings) != 1 || r.Findings[0].Kind != finding.KindSynNotRevoked || r.Findings[0].Severity != "high" {
		t.Fatalf("%v %+v", r.Err, r.Findings)
	}
	rec := ledgerRows(t, st)["etl-dev"]
	if rec.Revocation["verified"] != false {
		t.Errorf("ledger: %+v", rec.Revocation)
	}
	// Undo the sabotage so the token doesn't outlive the test; on a loaded
	// machine its short TTL may already have ended it ("token not found").
	if err := root.Auth().Token().RevokeAccessor(rec.CredentialID); err != nil && !strings.Contains(err.Error(), "token not found") {
		t.Fatal(err)
	}
}

// A run killed between asking for the token and recording its accessor
// leaves an "issuing" row without one; the next run finds the token by the
// ledger id in its metadata and revokes it.
func TestVaultCrashRecovery(t *testing.T) {
	root, m, _ := baoSetup(t)
	st, _ := testenv.Store(t)
	ids := loadIdentities(t, vaultIdentities(m, "dev"))
	iss := &VaultIssuer{Store: "main", Client: root}
	ctx := context.Background()
	rec := &ledger.Credential{ID: newLedgerID(), RunID: "killed", Issuer: iss.Key(), Identity: "etl-dev", Status: ledger.Issuing}
	cred, err := iss.Issue(ctx, &ids[0], rec, time.Hour, func() error { return st.SaveCredential(ctx, rec) })
	if err != nil {
		t.Fatal(err)
	}
	accessor := rec.CredentialID // never recorded: the "crash" came first
	if out := cred.Verify(ctx, nil, 0); out.Result != Allowed {
		t.Fatalf("fresh token: %+v", out)
	}
	s := &Scanner{Issuers: map[string]Issuer{iss.Key(): iss}, Ledger: st}
	if err := s.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	got := ledgerRows(t, st)["etl-dev"]
	if got.Status != ledger.Cleaned || got.Revocation["recovered"] != true || got.Revocation["accessors"] != float64(1) {
		t.Fatalf("after recovery: %+v", got)
	}
	if _, err := root.Auth().Token().LookupAccessor(accessor); err == nil {
		t.Fatal("the crashed run's token was not revoked")
	}
	// Nothing is left to do.
	if open, _ := st.Credentials(ctx, ledger.Filter{Open: true}); len(open) != 0 {
		t.Fatalf("open rows: %+v", open)
	}
}
