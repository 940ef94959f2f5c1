package files

import (
	"context"
	b64 "encoding/base64"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/stores"
)

func TestFilesInventoryAndPlaintextConfig(t *testing.T) {
	dir := t.TempDir()
	pw, tok := testenv.FakeAWSKey(), testenv.FakeGitHubToken()
	os.WriteFile(filepath.Join(dir, ".env"), []byte("# app\nDB_USER=etl\nDB_PASSWORD=\""+pw+"\"\nAPI_TOKEN=${API_TOKEN}\nexport GH_TOKEN="+tok+"\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "k8s"), 0o755)
	os.WriteFile(filepath.Join(dir, "k8s", "app.yaml"), []byte(`apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {LOG_LEVEL: info}
---
apiVersion: v1
kind: Secret
metadata: {name: etl, namespace: data}
data:
  password: `+b64.StdEncoding.EncodeToString([]byte(pw))+`
stringData:
  token: plain-value
`), 0o644)
	os.WriteFile(filepath.Join(dir, "pipeline.yaml"), []byte(`job: load
warehouse:
  user: etl
  password: secret://vault/secret/prod/warehouse/password
  api_key: hunter2-literal-value
steps:
  - name: upload
    env:
      AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET }}
      SLACK_TOKEN: xoxb-1234-literal
`), 0o644)
	h, _ := secrethash.New([]byte(strings.Repeat("f", 32)))
	s := &Store{Root: dir, Env: []string{".env"}, Kubernetes: []string{"k8s/*.yaml"}, Pipelines: []string{"*.yaml"}, Hasher: h}
	var got []stores.Secret
	if err := s.List(context.Background(), func(x stores.Secret) { got = append(got, x) }); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, x := range got {
		paths = append(paths, x.Path)
		if x.Path == "file:.env#DB_PASSWORD" && (len(x.Hashes) != 1 || x.Hashes[0].Hash != h.Hash(pw)) {
			t.Errorf("DB_PASSWORD hash %+v", x.Hashes)
		}
		if x.Path == "k8s:data/etl/password" && x.Hashes[0].Hash != h.Hash(pw) {
			t.Error("base64 data not decoded before hashing")
		}
	}
	sort.Strings(paths)
	want := "[file:.env#DB_PASSWORD file:.env#GH_TOKEN k8s:data/etl/password k8s:data/etl/token]"
	if strings.Join(strings.Fields(strings.Trim(want, "[]")), " ") != strings.Join(paths, " ") {
		t.Fatalf("paths %v, want %s", paths, want)
	}
	var lits []string
	for _, f := range s.Reported() {
		lits = append(lits, f.Resource+" "+f.Evidence["key"].(string))
		if strings.Contains(f.Detail, "hunter2-literal-value") || strings.Contains(f.Detail, "xoxb-1234-literal") {
			t.Error("a literal value is quoted in a finding")
		}
	}
	sort.Strings(lits)
	if strings.Join(lits, "|") != "file:pipeline.yaml:10 steps[0].env.SLACK_TOKEN|file:pipeline.yaml:5 warehouse.api_key" {
		t.Fatalf("plaintext_config %v", lits)
	}
}

func TestBadManifestIsNamed(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "s.yaml"), []byte("kind: Secret\nmetadata: {name: x}\ndata:\n  k: not*base64\n"), 0o644)
	s := &Store{Root: dir, Kubernetes: []string{"s.yaml"}}
	err := s.List(context.Background(), func(stores.Secret) {})
	if err == nil || !strings.Contains(err.Error(), "s.yaml") || !strings.Contains(err.Error(), "not base64") {
		t.Fatalf("%v", err)
	}
}

// A FIFO matched by an env glob would block the run; a symlink out of the
// glob's directory would make the inventory read any file on the host.
// Both are skipped; the real files are still listed.
func TestFIFOAndOutwardSymlinkAreSkipped(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "shadow.env")
	os.WriteFile(outside, []byte("ROOT_PASSWORD="+testenv.FakeAWSKey()+"\n"), 0o644)
	os.Symlink(outside, filepath.Join(dir, "link.env"))
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.env"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "app.env"), []byte("DB_PASSWORD="+testenv.FakeAWSKey()+"\n"), 0o644)
	s := &Store{Root: dir, Env: []string{"*.env"}}
	done := make(chan []string, 1)
	go func() {
		var got []string
		if err := s.List(context.Background(), func(sec stores.Secret) { got = append(got, sec.Path) }); err != nil {
			t.Error(err)
		}
		done <- got
	}()
	select {
	case got := <-done:
		if len(got) != 1 || got[0] != "file:app.env#DB_PASSWORD" {
			t.Fatalf("listed %v", got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the inventory blocked on a FIFO")
	}
}
