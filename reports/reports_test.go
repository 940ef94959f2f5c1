package reports

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/vigilsec/vigil/internal/finding"
)

func sample() []finding.Finding {
	now := time.Date(2026, 11, 2, 3, 0, 0, 0, time.UTC)
	return []finding.Finding{
		{ID: "aa11", Kind: finding.KindLeakGit, Severity: finding.High, Scanner: "leaks", Status: finding.StatusOpen,
			Resource: "repo:payments@abc123:config/db.yaml:12", Title: "AWS (aws-access-token) in commit abc123", Detail: "d",
			FirstSeen: now, LastSeen: now, Controls: []string{"SOC2:CC6.1"},
			Evidence: finding.Evidence{"rule": "aws-access-token", "redacted": "AKI****XYZ", "commit": "abc123"},
			Location: &finding.Location{Repo: "payments", Commit: "abc123", Path: "config/db.yaml", Line: 12, EndLine: 12, Column: 5}},
		{ID: "bb22", Kind: finding.KindLeakLog, Severity: finding.Medium, Scanner: "leaks", Status: finding.StatusOpen,
			Resource: "log:app:/var/log/app.log:7", Title: "generic", FirstSeen: now, LastSeen: now,
			Evidence: finding.Evidence{"rule": "generic-api-key"},
			Location: &finding.Location{Path: "/var/log/app space.log", Line: 7}},
		{ID: "cc33", Kind: "iam.wildcard", Severity: finding.Critical, Scanner: "iam", Status: finding.StatusOpen,
			Resource: "arn:aws:iam::123456789012:role/etl", Title: "wildcard", FirstSeen: now, LastSeen: now},
	}
}

// sarifSchema is Microsoft's SARIF 2.1.0 schema; `make test` extracts it
// from the @microsoft/sarif-multitool-linux npm package.
func sarifSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	p := os.Getenv("VIGIL_SARIF_SCHEMA")
	if p == "" {
		_, file, _, _ := runtime.Caller(0)
		p = filepath.Join(filepath.Dir(file), "..", ".cache", "sarif-2.1.0.json")
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("SARIF schema required in CI: %v (make test fetches it)", err)
		}
		t.Skipf("SARIF schema not present (%v); run make test", err)
	}
	c := jsonschema.NewCompiler()
	sch, err := c.Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func TestSARIFIsValidAgainstTheSchema(t *testing.T) {
	sch := sarifSchema(t)
	var buf bytes.Buffer
	run := Run{ID: "20261102T030000Z-1", Transitions: map[string]finding.Transition{"aa11": finding.New}}
	if err := SARIF(&buf, run, sample()); err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(doc); err != nil {
		t.Fatalf("SARIF output is invalid: %v", err)
	}
	// The validator must be able to fail: break a level and expect an error.
	broken := strings.Replace(buf.String(), `"level": "error"`, `"level": "severe"`, 1)
	bad, _ := jsonschema.UnmarshalJSON(strings.NewReader(broken))
	if sch.Validate(bad) == nil {
		t.Fatal("schema accepted an invalid level: the validation proves nothing")
	}

	var log sarifLog
	json.Unmarshal(buf.Bytes(), &log)
	r := log.Runs[0]
	if len(r.Tool.Driver.Rules) != 3 || len(r.Results) != 3 {
		t.Fatalf("%d rules %d results", len(r.Tool.Driver.Rules), len(r.Results))
	}
	got := r.Results[0]
	if got.RuleID != "leak.git/aws-access-token" || got.PartialFingerprints["vigilFindingId/v1"] != "aa11" {
		t.Errorf("result %+v", got)
	}
	pl := got.Locations[0].PhysicalLocation
	if pl.ArtifactLocation.URI != "config/db.yaml" || pl.ArtifactLocation.URIBaseID != "%SRCROOT%" || pl.Region.StartLine != 12 {
		t.Errorf("location %+v", pl)
	}
	if u := r.Results[1].Locations[0].PhysicalLocation.ArtifactLocation.URI; u != "file:///var/log/app%20space.log" {
		t.Errorf("absolute uri %q", u)
	}
	if r.Results[2].Locations[0].LogicalLocations[0].FullyQualifiedName != "arn:aws:iam::123456789012:role/etl" {
		t.Errorf("logical location %+v", r.Results[2].Locations)
	}
	if r.Tool.Driver.Rules[r.Results[2].RuleIndex].ID != r.Results[2].RuleID {
		t.Error("ruleIndex does not point at the rule")
	}
}

func TestEmptySARIFIsValid(t *testing.T) {
	sch := sarifSchema(t)
	var buf bytes.Buffer
	SARIF(&buf, Run{}, nil)
	doc, _ := jsonschema.UnmarshalJSON(&buf)
	if err := sch.Validate(doc); err != nil {
		t.Fatal(err)
	}
}

func TestJSONMatchesTheContract(t *testing.T) {
	var buf bytes.Buffer
	if err := JSON(&buf, sample()[:1]); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "kind", "severity", "scanner", "resource", "title", "detail", "status", "first_seen", "last_seen", "run_id", "evidence", "controls"} {
		if _, ok := got[0][k]; !ok {
			t.Errorf("field %q missing", k)
		}
	}
	if len(got[0]) != 13 {
		t.Errorf("%d fields, the contract has 13: %v", len(got[0]), got[0])
	}
	buf.Reset()
	JSON(&buf, nil)
	if strings.TrimSpace(buf.String()) != "[]" {
		t.Errorf("no findings: %q", buf.String())
	}
}

func TestMarkdownSummary(t *testing.T) {
	var buf bytes.Buffer
	fs := sample()
	fs = append(fs, finding.Finding{ID: "dd44", Kind: finding.KindLeakFile, Severity: finding.High, Status: finding.StatusResolved, Resource: "dir:x"})
	run := Run{ID: "r1", Status: "partial", Transitions: map[string]finding.Transition{"aa11": finding.New, "dd44": finding.Resolved},
		Errors: map[string]string{"git:broken": "not a git repository"}}
	if err := Markdown(&buf, run, fs); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, want := range []string{"| critical | 1 |", "| high | 1 |", "**1 new**, 2 still open, 1 resolved, 0 regressed", "`git:broken`: not a git repository", "| high **new** | leak.git |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
