package leaks

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"testing"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/scanners/leaks/prefilter"
)

// TestPrefilterKeepsEveryFinding scans a directory and its files as logs,
// once with the prefilter in front of gitleaks and once without: the same
// findings. Go's net/http sources are the haystack (the filter skips most of
// them); secrets are planted as they are, base64-encoded, in a Kubernetes
// secret and as a key file found by name. In a build without Vectorscan
// there is no filter, which is checked too.
func TestPrefilterKeepsEveryFinding(t *testing.T) {
	dir := t.TempDir()
	srcs, _ := filepath.Glob(filepath.Join(runtime.GOROOT(), "src", "net", "http", "*.go"))
	if len(srcs) < 20 {
		t.Fatalf("Go's net/http sources not found under %s", runtime.GOROOT())
	}
	for _, p := range srcs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, filepath.Base(p)+".log"), b, 0o644)
	}
	k1, k2 := testenv.FakeAWSKey(), testenv.FakeAWSKey()
	os.WriteFile(filepath.Join(dir, "app.log"), []byte("start\naws_access_key_id="+k1+"\nGITHUB_TOKEN=ghp_"+"R2bYk5Vt8Qz1Lm4Np7Wx0Cd3Fg6Hj9Ks2Tu5\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "enc.log"), []byte("blob: "+base64.StdEncoding.EncodeToString([]byte("aws_access_key_id="+k2))+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "secret.yaml"), []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\ndata:\n  password: c3VwZXJzZWNyZXRwYXNzd29yZDEyMw==\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "client.p12"), []byte("not really pkcs12"), 0o644)

	run := func(noFilter bool) []string {
		s := newScanner(t)
		s.Engine.NoFilter = noFilter
		s.Dirs = []DirTarget{{Name: "d", Path: dir}}
		s.Logs = []LogTarget{{Name: "l", Paths: []string{filepath.Join(dir, "*.log")}}}
		var ids []string
		for _, r := range scan(t, s, &memState{}) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			for _, f := range r.Findings {
				ids = append(ids, f.ID+" "+f.Evidence["rule"].(string))
			}
		}
		if !noFilter {
			err := s.Engine.FilterStatus()
			if errors.Is(err, prefilter.ErrUnavailable) {
				t.Log("built without Vectorscan: no filter")
			} else if err != nil {
				t.Fatalf("the prefilter is off: %v", err)
			}
		}
		sort.Strings(ids)
		return ids
	}
	with, without := run(false), run(true)
	if len(without) < 6 || !equal(with, without) {
		t.Fatalf("with the prefilter %d findings %v\nwithout %d %v", len(with), with, len(without), without)
	}
}
