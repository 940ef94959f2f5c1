package leaks

import (
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/scanners"
)

func appendFile(t *testing.T, p, s string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func noise(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "2026-11-01T00:00:%02dZ INFO request served path=/api/v1/items/%d status=200\n", i%60, i)
	}
	return b.String()
}

func logScanner(t *testing.T, globs ...string) *Scanner {
	s := newScanner(t)
	s.Logs = []LogTarget{{Name: "app", Paths: globs}}
	return s
}

func only(t *testing.T, res []scanners.Result) scanners.Result {
	t.Helper()
	if len(res) != 1 {
		t.Fatalf("%d results, want 1: %+v", len(res), res)
	}
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	return res[0]
}

func TestLogResumeReadsOnlyAppendedBytes(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.log")
	k1 := testenv.FakeAWSKey()
	head := noise(500) + "DEBUG using aws_access_key_id=" + k1 + "\n"
	appendFile(t, p, head)
	s, st := logScanner(t, filepath.Join(dir, "*.log")), &memState{}

	r := only(t, scan(t, s, st))
	if r.Mode != scanners.Full || r.Stats.Bytes != int64(len(head)) || len(r.Findings) != 1 {
		t.Fatalf("first: mode %v bytes %d/%d findings %d", r.Mode, r.Stats.Bytes, len(head), len(r.Findings))
	}
	if line := r.Findings[0].Evidence["line"]; line != 501 {
		t.Errorf("line %v, want 501", line)
	}

	r = only(t, scan(t, s, st))
	if r.Mode != scanners.Incremental || r.Stats.Bytes != 0 {
		t.Fatalf("unchanged: mode %v read %d bytes", r.Mode, r.Stats.Bytes)
	}

	k2 := testenv.FakeGitHubToken()
	tail := noise(10) + "WARN token=" + k2 + " rejected\n"
	appendFile(t, p, tail)
	r = only(t, scan(t, s, st))
	if r.Mode != scanners.Incremental || r.Stats.Bytes != int64(len(tail)) {
		t.Fatalf("append: mode %v read %d bytes, want %d", r.Mode, r.Stats.Bytes, len(tail))
	}
	if !equal(hashes(r.Findings), want(s.Engine.Hasher, k2)) {
		t.Fatalf("append found %d findings, want only the new line's", len(r.Findings))
	}
	if line := r.Findings[0].Evidence["line"]; line != 512 {
		t.Errorf("line after resume %v, want 512 (line numbers count the whole file)", line)
	}
}

func TestLogHalfWrittenLineWaitsForItsEnd(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.log")
	k := testenv.FakeAWSKey()
	appendFile(t, p, "first line\nkey="+k[:10]) // the writer is mid-line
	s, st := logScanner(t, p), &memState{}
	if r := only(t, scan(t, s, st)); r.Stats.Bytes == 0 || len(r.Findings) != 0 {
		t.Fatalf("partial line: %d findings", len(r.Findings))
	}
	appendFile(t, p, k[10:]+"\n")
	if r := only(t, scan(t, s, st)); !equal(hashes(r.Findings), want(s.Engine.Hasher, k)) {
		t.Fatalf("completed line: %d findings, want the whole key", len(r.Findings))
	}
	// An unterminated last line in a file nobody writes to any more is read.
	k2 := testenv.FakeAWSKey()
	appendFile(t, p, "key="+k2)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(p, old, old)
	if r := only(t, scan(t, s, st)); !equal(hashes(r.Findings), want(s.Engine.Hasher, k2)) {
		t.Fatalf("quiet unterminated line: %d findings", len(r.Findings))
	}
}

func TestLogRotationAndTruncationRescanFromStart(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.log")
	k1 := testenv.FakeAWSKey()
	appendFile(t, p, noise(50)+"key="+k1+"\n")
	s, st := logScanner(t, p), &memState{}
	only(t, scan(t, s, st))

	// Rotation by rename: a new file (new inode) at the same path.
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	k2 := testenv.FakeAWSKey()
	fresh := "key=" + k2 + "\n"
	appendFile(t, p, fresh)
	r := only(t, scan(t, s, st))
	if r.Mode != scanners.Full || r.Stats.Bytes != int64(len(fresh)) || !equal(hashes(r.Findings), want(s.Engine.Hasher, k2)) {
		t.Fatalf("rotated: mode %v bytes %d findings %d", r.Mode, r.Stats.Bytes, len(r.Findings))
	}

	// copytruncate: same inode, shorter content.
	k3 := testenv.FakeAWSKey()
	short := "k=" + k3 + "\n"
	if err := os.WriteFile(p, []byte(short), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := only(t, scan(t, s, st)); r.Mode != scanners.Full || !equal(hashes(r.Findings), want(s.Engine.Hasher, k3)) {
		t.Fatalf("truncated: mode %v findings %d", r.Mode, len(r.Findings))
	}

	// Truncated and written again past the old offset: the head differs.
	k4 := testenv.FakeAWSKey()
	regrown := "x" + noise(80) + "key=" + k4 + "\n"
	f, _ := os.OpenFile(p, os.O_TRUNC|os.O_WRONLY, 0)
	f.WriteString(regrown)
	f.Close()
	r = only(t, scan(t, s, st))
	if r.Mode != scanners.Full || r.Stats.Bytes != int64(len(regrown)) || !equal(hashes(r.Findings), want(s.Engine.Hasher, k4)) {
		t.Fatalf("regrown: mode %v bytes %d findings %d", r.Mode, r.Stats.Bytes, len(r.Findings))
	}
}

func TestLogGzipReadOnce(t *testing.T) {
	dir := t.TempDir()
	k := testenv.FakeGitHubToken()
	f, _ := os.Create(filepath.Join(dir, "app.log.2.gz"))
	zw := gzip.NewWriter(f)
	body := noise(1000) + "token " + k + "\n"
	zw.Write([]byte(body))
	zw.Close()
	f.Close()
	s, st := logScanner(t, filepath.Join(dir, "*.gz")), &memState{}
	r := only(t, scan(t, s, st))
	if r.Stats.Bytes != int64(len(body)) || !equal(hashes(r.Findings), want(s.Engine.Hasher, k)) {
		t.Fatalf("gz: bytes %d findings %d", r.Stats.Bytes, len(r.Findings))
	}
	if line := r.Findings[0].Evidence["line"]; line != 1001 {
		t.Errorf("line %v", line)
	}
	if r := only(t, scan(t, s, st)); r.Stats.Bytes != 0 || r.Mode != scanners.Incremental {
		t.Fatalf("gz reread: %d bytes", r.Stats.Bytes)
	}
}

func TestLogErrors(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "weird.log"), 0o755) // matches the glob, is not a file: skipped
	appendFile(t, filepath.Join(dir, "ok.log"), "key="+testenv.FakeAWSKey()+"\n")
	s := logScanner(t, filepath.Join(dir, "*.log"), filepath.Join(dir, "missing-dir", "*.log"))
	res := scan(t, s, &memState{})
	var errs, found int
	for _, r := range res {
		if r.Err != nil {
			errs++
		}
		found += len(r.Findings)
	}
	if errs != 1 || found != 1 {
		t.Fatalf("%d errors (want the missing glob dir's), %d findings (want the good file's)", errs, found)
	}
}

func TestDirScan(t *testing.T) {
	dir := t.TempDir()
	k := testenv.FakeAWSKey()
	os.MkdirAll(filepath.Join(dir, "conf", "node_modules", "x"), 0o755)
	os.WriteFile(filepath.Join(dir, "conf", "db.yaml"), []byte("user: app\naws_access_key_id: "+k+"\n"), 0o644)
	// gitleaks' default allowlist skips node_modules; vigil keeps that.
	os.WriteFile(filepath.Join(dir, "conf", "node_modules", "x", "a.js"), []byte("k='"+testenv.FakeAWSKey()+"'\n"), 0o644)
	s := newScanner(t)
	s.Dirs = []DirTarget{{Name: "cfg", Path: dir}}
	r := only(t, scan(t, s, &memState{}))
	if !equal(hashes(r.Findings), want(s.Engine.Hasher, k)) {
		t.Fatalf("dir: %d findings", len(r.Findings))
	}
	f := r.Findings[0]
	if f.Evidence["file"] != "conf/db.yaml" || f.Evidence["line"] != 2 || f.Resource != "dir:cfg:conf/db.yaml:2" {
		t.Errorf("evidence %v resource %s", f.Evidence, f.Resource)
	}
}

func TestEncodedAndDecodedMatchesAtOnePlaceStayApart(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "secret.yaml"), []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\ndata:\n  KEY: QUtJQVQ3UE0zUVhXRFI4TjJLVkI=\n"), 0o644)
	s := newScanner(t)
	s.Dirs = []DirTarget{{Name: "k8s", Path: dir}}
	r := only(t, scan(t, s, &memState{}))
	// gitleaks reports each rule's match as written and as decoded from
	// base64: four findings, at two places, each with its own id.
	ids, decoded := map[string]bool{}, 0
	for _, f := range r.Findings {
		ids[f.ID] = true
		if f.Evidence["tags"] != nil {
			decoded++
		}
	}
	if len(r.Findings) != 4 || len(ids) != 4 || decoded != 2 {
		t.Fatalf("%d findings, %d distinct ids, %d decoded", len(r.Findings), len(ids), decoded)
	}
}
