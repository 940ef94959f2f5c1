package iam

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/rules"
)

// A long-lived key is in CI where the account trusts that CI system's OIDC
// issuer: GitHub Actions' or a GitLab's, each with its own advice; a key
// held by a CI system the account does not federate with is not reported
// (there is nothing shorter-lived to move to yet).
func TestCIKeysByIssuer(t *testing.T) {
	hash := func(s string) string { return "h:" + strings.ToLower(s) }
	a := &Analyzer{Controls: rules.DefaultControls(), Now: time.Now(), HashKeyID: hash}
	const key = "AKIAQWERTYUIOPASDFGH"
	g := &Graph{Account: "111122223333",
		OIDCProviders: []string{"arn:aws:iam::111122223333:oidc-provider/gitlab.example.com"},
		Principals:    []Principal{{Kind: "user", Name: "ci", ARN: "arn:aws:iam::111122223333:user/ci", Keys: []AccessKey{{ID: key, Active: true}}}}}
	creds := []CICredential{
		{Where: "gitlab:acme/etl/AWS_ACCESS_KEY_ID", Name: "AWS_ACCESS_KEY_ID", Hash: hash(key), Issuer: "gitlab.example.com"},
		{Where: "github:repo/acme/etl/actions/variables/KEY", Name: "KEY", Hash: hash(key)},
		{Where: "gitlab:acme/etl/AWS_SECRET_ACCESS_KEY", Name: "AWS_SECRET_ACCESS_KEY", Issuer: "gitlab.example.com"},
		{Where: "github:org/acme/actions/AWS_ACCESS_KEY_ID", Name: "AWS_ACCESS_KEY_ID"},
	}
	keys := a.CIKeys(g, creds)
	if len(keys) != 1 || keys[0].Resource != "gitlab:acme/etl/AWS_ACCESS_KEY_ID" || !strings.Contains(keys[0].Detail, "GitLab's OIDC issuer (gitlab.example.com)") ||
		strings.Contains(keys[0].Detail, key) {
		t.Fatalf("keys: %+v", keys)
	}
	names := a.CINames(creds, g.OIDCProviders)
	if len(names) != 1 || names[0].Resource != "gitlab:acme/etl/AWS_SECRET_ACCESS_KEY" || !strings.Contains(names[0].Detail, "id_tokens") {
		t.Fatalf("names: %+v", names)
	}
	// An account that trusts GitHub Actions too: both CI systems' holdings.
	g.OIDCProviders = append(g.OIDCProviders, "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com")
	if keys := a.CIKeys(g, creds); len(keys) != 2 {
		t.Fatalf("with both issuers trusted: %+v", keys)
	}
	if got := a.CINames(creds, g.OIDCProviders); len(got) != 2 || !strings.Contains(got[1].Detail+got[0].Detail, "configure-aws-credentials") {
		t.Fatalf("names with both issuers trusted: %+v", got)
	}
	// An unreadable account might trust an issuer no other does: partial.
	res := a.ciNames(creds[3:], nil, []string{"arn:aws:iam::1:oidc-provider/gitlab.example.com"}, []error{errTest})
	if res.Err == nil || len(res.Findings) != 0 {
		t.Fatalf("undecided: %+v", res)
	}
}

var errTest = errors.New("account b: AccessDenied")
