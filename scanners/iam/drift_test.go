package iam

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/policy"
	"github.com/vigilsec/vigil/rules"
)

func parse(t *testing.T, stmts ...string) *policy.Document {
	t.Helper()
	d, err := policy.Parse(`{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func kinds(fs []finding.Finding) map[finding.Kind]int {
	m := map[finding.Kind]int{}
	for _, f := range fs {
		m[f.Kind]++
	}
	return m
}

func analyze(t *testing.T, declared *policy.Document, live ...*policy.Document) []finding.Finding {
	t.Helper()
	p := Principal{Kind: "role", Name: "job", ARN: "arn:aws:iam::111122223333:role/job"}
	for i, d := range live {
		p.Policies = append(p.Policies, Attached{ID: "inline:role/job/p" + string(rune('0'+i)), Name: "p", Doc: d})
	}
	a := &Analyzer{Identities: []rules.Identity{{Name: "job", Kind: "role", Policy: declared, PolicyName: "decl", RotationDays: 90, UnusedDays: 90}}, Now: time.Now()}
	return a.Analyze(&Graph{Account: "111122223333", Principals: []Principal{p}})
}

func TestAnalyzerSemantics(t *testing.T) {
	read := `{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}`
	vpc := `{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEquals":{"aws:SourceVpc":["vpc-1"]}}}`
	cases := []struct {
		name     string
		declared *policy.Document
		live     []*policy.Document
		want     map[finding.Kind]int
	}{
		{"exact match", parse(t, read), []*policy.Document{parse(t, read)}, map[finding.Kind]int{}},
		{"case-insensitive actions", parse(t, read), []*policy.Document{parse(t, `{"Effect":"Allow","Action":"S3:getobject","Resource":"arn:aws:s3:::b/*"}`)}, map[finding.Kind]int{}},
		{"narrower live is fine", parse(t, `{"Effect":"Allow","Action":"s3:Get*","Resource":"arn:aws:s3:::b/*"}`),
			[]*policy.Document{parse(t, `{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/x/*"}`)},
			map[finding.Kind]int{finding.KindIAMMissingGrant: 1}},
		{"broader resource is excess", parse(t, read), []*policy.Document{parse(t, `{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::*"}`)},
			map[finding.Kind]int{finding.KindIAMExcessGrant: 1}},
		{"live with the declared condition", parse(t, vpc), []*policy.Document{parse(t, vpc)}, map[finding.Kind]int{}},
		{"live without the declared condition is broader", parse(t, vpc), []*policy.Document{parse(t, read)},
			map[finding.Kind]int{finding.KindIAMExcessGrant: 1}},
		{"live condition the declaration lacks may deny the job", parse(t, read), []*policy.Document{parse(t, vpc)},
			map[finding.Kind]int{finding.KindIAMMissingGrant: 1}},
		{"an unconditional live deny takes the grant away", parse(t, read),
			[]*policy.Document{parse(t, read, `{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*"}`,
				`{"Effect":"Deny","Action":"s3:Put*","Resource":"*"}`)}, map[finding.Kind]int{}},
		{"a live deny on the declared need is missing", parse(t, read),
			[]*policy.Document{parse(t, read, `{"Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::b/secret/*"}`)},
			map[finding.Kind]int{finding.KindIAMMissingGrant: 1}},
		{"NotAction on everything is admin", parse(t, read),
			[]*policy.Document{parse(t, `{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}`)},
			map[finding.Kind]int{finding.KindIAMAdmin: 1, finding.KindIAMExcessGrant: 1}},
		{"declared NotAction ceiling covers a live grant outside it", parse(t, `{"Effect":"Allow","NotAction":["iam:*","sts:*"],"Resource":"*"}`),
			[]*policy.Document{parse(t, `{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}`)}, map[finding.Kind]int{}},
		{"declared NotAction ceiling does not cover iam", parse(t, `{"Effect":"Allow","NotAction":["iam:*"],"Resource":"*"}`),
			[]*policy.Document{parse(t, `{"Effect":"Allow","Action":"iam:PassRole","Resource":"*"}`)}, map[finding.Kind]int{finding.KindIAMExcessGrant: 1}},
		{"declared deny makes an overlapping live grant excess", parse(t, `{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/*"}`, `{"Effect":"Deny","Action":"s3:Delete*","Resource":"*"}`),
			[]*policy.Document{parse(t, `{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/*"}`)}, map[finding.Kind]int{finding.KindIAMExcessGrant: 1}},
		{"service wildcard on everything", parse(t, `{"Effect":"Allow","Action":"s3:*","Resource":"*"}`),
			[]*policy.Document{parse(t, `{"Effect":"Allow","Action":"s3:*","Resource":"*"}`)}, map[finding.Kind]int{finding.KindIAMWildcard: 1}},
		{"action star on everything", parse(t, read), []*policy.Document{parse(t, `{"Effect":"Allow","Action":"*","Resource":"*"}`)},
			map[finding.Kind]int{finding.KindIAMAdmin: 1, finding.KindIAMExcessGrant: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := kinds(analyze(t, tc.declared, tc.live...))
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, n := range tc.want {
				if got[k] != n {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestUnparsableLivePolicyIsAFinding(t *testing.T) {
	p := Principal{Kind: "role", Name: "job", ARN: "arn:aws:iam::1:role/job", Policies: []Attached{
		{ID: "arn:aws:iam::1:policy/broken", Name: "broken", Err: &policy.SyntaxError{Msg: "unexpected end of JSON input"}},
	}}
	a := &Analyzer{Identities: []rules.Identity{{Name: "job", Kind: "role", Policy: &policy.Document{}}}, Now: time.Now()}
	fs := a.Analyze(&Graph{Principals: []Principal{p}})
	if k := kinds(fs); k[finding.KindIAMUnparsablePolicy] != 1 || len(fs) != 1 {
		t.Fatalf("%v", k)
	}
}

func TestParseURLEncodedAndVariants(t *testing.T) {
	raw := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":true}}}}`
	d, err := policy.Parse(url.QueryEscape(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Statement) != 1 || d.Statement[0].Action[0] != "s3:GetObject" || d.Statement[0].Condition["Bool"]["aws:SecureTransport"][0] != "true" {
		t.Fatalf("%+v", d)
	}
	for _, bad := range []string{`{"Statement":[{"Effect":"Allow","Action":"s3:*"}]}`, `{"Statement":[{"Effect":"Maybe","Action":"s3:*","Resource":"*"}]}`, `{"Statement":[`} {
		if _, err := policy.Parse(bad); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestDeclaredFileErrorsNameFileAndLine(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.json"), []byte("{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\", \"Action\": \"s3:*\",, \"Resource\": \"*\"}\n  ]\n}\n"), 0o644)
	p := filepath.Join(dir, "ids.yaml")
	os.WriteFile(p, []byte("identities:\n  - name: a\n    kind: role\n    policy: bad.json\n  - name: b\n    kind: robot\n  - name: c\n    kind: role\n    grantz: []\n"), 0o644)
	_, err := rules.LoadIdentities(p)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{filepath.Join(dir, "bad.json") + ":4:", p + ":5: identity \"b\": kind is not role, user, vault or kubernetes", p + ":9: field grantz not found"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
