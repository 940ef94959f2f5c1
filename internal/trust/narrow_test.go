package trust

import (
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/policy"
)

// TestNarrowLeavesOnlyDeclaredDoors: the narrowed policy of each too-wide
// shape analyses clean against its declaration, keeps the declared doors,
// and keeps statements that are not about assuming the role.
func TestNarrowLeavesOnlyDeclaredDoors(t *testing.T) {
	c := Context{Account: "111111111111"}
	decl := &Declared{
		Principals: []string{"arn:aws:iam::111111111111:role/ci", "lambda.amazonaws.com"},
		OIDC:       []OIDC{{Provider: gh, Subjects: []string{"repo:acme/etl:ref:refs/heads/main"}}},
	}
	live := `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111111111111:oidc-provider/` + gh + `"},"Action":"sts:AssumeRoleWithWebIdentity",
	   "Condition":{"StringLike":{"` + gh + `:sub":"repo:acme/*"},"StringEquals":{"aws:RequestedRegion":"eu-west-1"}}},
	  {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111111111111:role/ci","*"],"Service":["lambda.amazonaws.com","ec2.amazonaws.com"]},"Action":["sts:AssumeRole","sts:TagSession"]},
	  {"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`
	doc, err := policy.ParseResourcePolicy(live)
	if err != nil {
		t.Fatal(err)
	}
	if len(Analyze(doc, decl, c)) == 0 {
		t.Fatal("the live policy should have issues")
	}
	n, err := Narrow(doc, decl, c)
	if err != nil {
		t.Fatal(err)
	}
	if is := Analyze(n, decl, c); len(is) > 0 {
		t.Fatalf("narrowed policy still has issues: %+v\n%s", is, Text(n))
	}
	text := Text(n)
	for _, want := range []string{`"repo:acme/etl:ref:refs/heads/main"`, `"sts.amazonaws.com"`, `"aws:RequestedRegion"`, `role/ci"`, `"lambda.amazonaws.com"`, `"Deny"`, `sts:TagSession`} {
		if !strings.Contains(text, want) {
			t.Errorf("narrowed policy lacks %s: %s", want, text)
		}
	}
	for _, gone := range []string{`repo:acme/*`, `ec2.amazonaws.com`, `"AWS":["arn`} {
		if strings.Contains(text, gone) {
			t.Errorf("narrowed policy keeps %s: %s", gone, text)
		}
	}
}

func TestNarrowRefuses(t *testing.T) {
	c := Context{Account: "111111111111"}
	for name, tc := range map[string]struct {
		live string
		decl *Declared
		want string
	}{
		"nothing declared is trusted": {`{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}}`,
			&Declared{Principals: []string{"arn:aws:iam::111111111111:role/ci"}}, "unusable"},
		"third party without external id": {`{"Statement":{"Effect":"Allow","Principal":{"AWS":"999999999999"},"Action":"sts:AssumeRole"}}`,
			&Declared{Principals: []string{"999999999999"}}, "sts:ExternalId"},
		"no declaration": {`{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}}`, nil, "no trust is declared"},
	} {
		doc, err := policy.ParseResourcePolicy(tc.live)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Narrow(doc, tc.decl, c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
