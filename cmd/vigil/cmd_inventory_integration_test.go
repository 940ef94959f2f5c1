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
	"github.com/openbao/openbao/api/v2"

	"github.com/vigilsec/vigil/internal/testenv"
)

func TestLiveLeakCorrelationEndToEnd(t *testing.T) {
	baoAddr := testenv.OpenBao(t)
	motoURL := testenv.Moto(t)
	ctx := context.Background()

	live, rotatedAway, current := testenv.FakeAWSKey(), testenv.FakeAWSKey(), testenv.FakeAWSKey()
	// OpenBao holds `live` as the current value of a KV v2 secret.
	bc, _ := api.NewClient(&api.Config{Address: baoAddr})
	bc.SetToken(testenv.OpenBaoToken)
	mount := fmt.Sprintf("e2e%d", os.Getpid())
	if err := bc.Sys().Mount(mount, &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.KVv2(mount).Put(ctx, "prod/warehouse/s3", map[string]any{"aws_access_key_id": live}); err != nil {
		t.Fatal(err)
	}
	// Secrets Manager had `rotatedAway`, then was rotated to `current`.
	smc := sm.NewFromConfig(testenv.AWSConfig(t, motoURL))
	if _, err := smc.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("prod/etl/aws"), SecretString: aws.String(`{"key":"` + rotatedAway + `"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := smc.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("prod/etl/aws"), SecretString: aws.String(`{"key":"` + current + `"}`)}); err != nil {
		t.Fatal(err)
	}
	// A repository leaked both.
	r := testenv.NewRepo(t)
	r.Commit("oops", map[string]string{"deploy/env.sh": fmt.Sprintf("export AWS_ACCESS_KEY_ID=%s\nexport BACKUP_KEY_ID=%s\n", live, rotatedAway)})

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "secrets.yaml"), []byte(fmt.Sprintf("secrets:\n  - path: vault:%s/prod/warehouse/s3\n    owner: data-platform\n    env: prod\n", mount)), 0o644)
	os.WriteFile(filepath.Join(dir, "vigil.yaml"), []byte(fmt.Sprintf(`db: state/vigil.db
rules:
  inventory: secrets.yaml
sources:
  git:
    - name: etl
      path: %s
aws:
  endpoint: %s
inventory:
  hash_values: true
  vault:
    - address: %s
      mounts: [%s]
  awssm:
    regions: [us-east-1]
`, r.Dir, motoURL, baoAddr, mount)), 0o644)
	t.Setenv("VAULT_TOKEN", testenv.OpenBaoToken)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")

	res := vigil(t, dir, "run", "--config", "vigil.yaml", "--format", "json", "--out", "out")
	if res.code != exitFindings {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	var fs []map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &fs); err != nil {
		t.Fatal(err)
	}
	var lives []string
	kinds := map[string]int{}
	for _, f := range fs {
		kinds[f["kind"].(string)]++
		if f["kind"] == "leak.live" {
			lives = append(lives, f["title"].(string))
			if f["severity"] != "critical" {
				t.Errorf("leak.live severity %v", f["severity"])
			}
		}
	}
	joined := strings.Join(lives, "\n")
	if len(lives) != 2 ||
		!strings.Contains(joined, "leaked value is the current value of vault:"+mount+"/prod/warehouse/s3 (field aws_access_key_id)") ||
		!strings.Contains(joined, "leaked value is a previous version (AWSPREVIOUS:") || !strings.Contains(joined, "of awssm:prod/etl/aws (field key)") {
		t.Fatalf("leak.live findings:\n%s\nkinds %v", joined, kinds)
	}
	if kinds["inventory.undeclared"] != 1 || kinds["inventory.no_owner"] != 1 || kinds["leak.git"] != 2 {
		t.Errorf("kinds %v", kinds)
	}
	// Canary: no store value anywhere.
	fx := &fixture{dir: dir, secrets: []string{live, rotatedAway, current}}
	fx.assertNoSecrets(t, res.stdout, res.stderr)

	// A store that can't be reached makes the run partial; the other
	// sources are stored and nothing of the failed store is called missing.
	t.Setenv("VAULT_TOKEN", "wrong-token")
	res = vigil(t, dir, "run", "--config", "vigil.yaml", "--format", "json")
	if res.code != exitPartial || !strings.Contains(res.stderr, "inventory vault") {
		t.Fatalf("bad token: exit %d\n%s", res.code, res.stderr)
	}
	if strings.Contains(res.stdout, `"inventory.missing"`) {
		t.Error("a declared secret of a store that failed was reported missing")
	}
}
