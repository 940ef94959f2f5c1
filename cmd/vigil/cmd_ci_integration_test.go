package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/vigilsec/vigil/internal/testenv"
)

// sarifURIs returns the artifact URIs of a SARIF log's results.
func sarifURIs(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var log struct {
		Runs []struct {
			Results []struct {
				RuleID    string `json:"ruleId"`
				Locations []struct {
					Physical struct {
						Artifact struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b, &log); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range log.Runs {
		for _, res := range r.Results {
			for _, l := range res.Locations {
				out = append(out, l.Physical.Artifact.URI)
			}
		}
	}
	return out
}

func TestCIScansOnlyThePullRequest(t *testing.T) {
	inBase, inPR := testenv.FakeAWSKey(), testenv.FakeAWSKey()
	literal := "Zq8vT2mW9xLr4Kp7Ns3Y"
	r := testenv.NewRepo(t)
	r.Commit("base", map[string]string{
		"vigil.yaml":         "db: .vigil/vigil.db\ninventory:\n  files:\n    pipelines: [pipelines/*.yaml]\n",
		"deploy/old.sh":      "export AWS_ACCESS_KEY_ID=" + inBase + "\n",
		"pipelines/etl.yaml": "warehouse:\n  password: secret://vault/prod/warehouse/password\n",
	})
	r.Git("checkout", "-q", "-b", "feature")
	r.Commit("new deploy script", map[string]string{"deploy/new.sh": "export AWS_ACCESS_KEY_ID=" + inPR + "\n"})
	r.Commit("inline the password", map[string]string{"pipelines/etl.yaml": "warehouse:\n  password: " + literal + "\n"})

	out := filepath.Join(t.TempDir(), "out")
	res := vigil(t, r.Dir, "ci", "--config", "vigil.yaml", "--base", "main", "--sarif", filepath.Join(out, "vigil.sarif"),
		"--summary", filepath.Join(out, "summary.md"))
	if res.code != exitFindings {
		t.Fatalf("exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	uris := strings.Join(sarifURIs(t, filepath.Join(out, "vigil.sarif")), " ")
	if !strings.Contains(uris, "deploy/new.sh") || !strings.Contains(uris, "pipelines/etl.yaml") {
		t.Errorf("SARIF lacks the PR's leak or the lint finding: %s", uris)
	}
	if strings.Contains(uris, "deploy/old.sh") {
		t.Errorf("the base's secret was reported: only the PR's commits are scanned (%s)", uris)
	}
	summary, err := os.ReadFile(filepath.Join(out, "summary.md"))
	if err != nil || !strings.Contains(string(summary), "new.sh") {
		t.Errorf("summary: %v\n%s", err, summary)
	}
	sarif, _ := os.ReadFile(filepath.Join(out, "vigil.sarif"))
	for _, s := range []string{inBase, inPR, literal} {
		for name, text := range map[string]string{"stdout": res.stdout, "stderr": res.stderr, "sarif": string(sarif), "summary": string(summary)} {
			if strings.Contains(text, s) {
				t.Errorf("%s holds a secret value", name)
			}
		}
	}

	// A PR without new findings passes the gate (the base's leak is not
	// the PR's problem).
	r.Git("checkout", "-q", "main")
	r.Git("checkout", "-q", "-b", "clean")
	r.Commit("docs", map[string]string{"README.md": "hello\n"})
	res = vigil(t, r.Dir, "ci", "--config", "vigil.yaml", "--base", "main", "--sarif", filepath.Join(out, "clean.sarif"))
	if res.code != exitOK {
		t.Fatalf("clean PR: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	// A base that is not a commit is a clear error.
	res = vigil(t, r.Dir, "ci", "--config", "vigil.yaml", "--base", "no-such-branch", "--sarif", filepath.Join(out, "x.sarif"))
	if res.code != exitPartial || !strings.Contains(res.stderr, "no-such-branch") {
		t.Errorf("bad base: exit %d\n%s", res.code, res.stderr)
	}
}

func TestCIRotatesASecretWhoseLiveValueLeakedInThePR(t *testing.T) {
	motoURL := testenv.Moto(t)
	ctx := context.Background()
	live := testenv.FakeAWSKey()
	smc := sm.NewFromConfig(testenv.AWSConfig(t, motoURL))
	if _, err := smc.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("prod/app/key-id"), SecretString: aws.String(live)}); err != nil {
		t.Fatal(err)
	}
	current := func() string {
		out, err := smc.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("prod/app/key-id"), VersionStage: aws.String("AWSCURRENT")})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.SecretString)
	}
	r := testenv.NewRepo(t)
	r.Commit("base", map[string]string{
		"vigil.yaml": fmt.Sprintf(`db: .vigil/vigil.db
rules:
  inventory: secrets.yaml
aws:
  region: us-east-1
  endpoint: %s
inventory:
  hash_values: true
  awssm:
    regions: [us-east-1]
`, motoURL),
		"secrets.yaml": `secrets:
  - path: awssm:prod/app/key-id
    owner: payments
    env: prod
    rotation:
      length: 20
      charset: alnum
      validate:
        command: [sh, -c, "read -r v; [ ${#v} -eq 20 ]"]
`,
	})
	r.Git("checkout", "-q", "-b", "feature")
	r.Commit("debug", map[string]string{"debug.sh": "export AWS_ACCESS_KEY_ID=" + live + "\n"})
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")

	sarif := filepath.Join(t.TempDir(), "vigil.sarif")
	res := vigil(t, r.Dir, "ci", "--config", "vigil.yaml", "--base", "main", "--sarif", sarif, "--remediate")
	if res.code != exitFindings || !strings.Contains(res.stdout, "rotate awssm:prod/app/key-id") || !strings.Contains(res.stdout, "dry run") {
		t.Fatalf("plan: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, "leak.live") {
		t.Errorf("the live leak is not reported:\n%s", res.stdout)
	}
	if current() != live {
		t.Fatal("without --approve the secret changed")
	}
	res = vigil(t, r.Dir, "ci", "--config", "vigil.yaml", "--base", "main", "--sarif", sarif, "--remediate", "--approve")
	if res.code != exitFindings || !strings.Contains(res.stdout, "applied") {
		t.Fatalf("apply: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if now := current(); now == live || len(now) != 20 {
		t.Fatalf("the leaked value is still current")
	}
	if strings.Contains(res.stdout+res.stderr, live) || strings.Contains(res.stdout+res.stderr, current()) {
		t.Error("a secret value was printed")
	}
	if res := vigil(t, r.Dir, "audit", "verify", "--config", "vigil.yaml"); res.code != 0 {
		t.Errorf("audit verify: %d %s", res.code, res.stderr)
	}
	res = vigil(t, r.Dir, "remediate", "list", "--config", "vigil.yaml", "--format", "json")
	var acts []map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &acts); err != nil || len(acts) != 2 {
		t.Fatalf("actions: %v\n%s", err, res.stdout)
	}
	if acts[1]["status"] != "applied" || acts[1]["caller"] == "" || acts[1]["before_hash"] == acts[1]["after_hash"] {
		t.Errorf("applied action: %v", acts[1])
	}
}
