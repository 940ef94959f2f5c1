package leaks

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/scanners"
)

// benchRepo is VIGIL_BENCH_REPO (any repository, e.g. a mirror of a large
// public one), or a generated repository of 400 commits.
func benchRepo(b *testing.B) string {
	if p := os.Getenv("VIGIL_BENCH_REPO"); p != "" {
		return p
	}
	r := testenv.NewRepo(b)
	for i := 0; i < 400; i++ {
		files := map[string]string{}
		for j := 0; j < 5; j++ {
			files[fmt.Sprintf("pkg%d/file%d.go", j, i%50)] = fmt.Sprintf("package pkg%d\n\n// revision %d\nfunc F%d() string { return \"value-%d-%d\" }\n", j, i, i, i, j)
		}
		if i%40 == 0 {
			files[fmt.Sprintf("conf/leak%d.env", i)] = "AWS_ACCESS_KEY_ID=" + testenv.FakeAWSKey() + "\n"
		}
		r.Commit(fmt.Sprintf("commit %d", i), files)
	}
	return r.Dir
}

// BenchmarkGitFullHistory measures a first scan of all history (no store).
func BenchmarkGitFullHistory(b *testing.B) {
	repo := benchRepo(b)
	s := newScanner(&testing.T{})
	s.Git = []GitTarget{{Name: "bench", Path: repo}}
	var bytes int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Scan(context.Background(), &memState{}, func(r scanners.Result) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
			bytes = r.Stats.Bytes
		})
	}
	b.SetBytes(bytes)
}

// BenchmarkGitNoChangeRescan measures the nightly case: nothing new.
func BenchmarkGitNoChangeRescan(b *testing.B) {
	repo := benchRepo(b)
	s := newScanner(&testing.T{})
	s.Git = []GitTarget{{Name: "bench", Path: repo}}
	st := &memState{}
	st.Scan(b, s)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Scan(context.Background(), st, func(r scanners.Result) {
			if r.Stats.Commits != 0 {
				b.Fatalf("rescan read %d commits", r.Stats.Commits)
			}
		})
	}
}

// BenchmarkLogs measures log scanning throughput on 64 MiB of generated log.
func BenchmarkLogs(b *testing.B) {
	dir := b.TempDir()
	p := filepath.Join(dir, "app.log")
	f, _ := os.Create(p)
	chunk := noise(10000)
	for n := 0; n < 64<<20; n += len(chunk) {
		f.WriteString(chunk)
	}
	f.Close()
	s := newScanner(&testing.T{})
	s.Logs = []LogTarget{{Name: "bench", Paths: []string{p}}}
	var read int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Scan(context.Background(), &memState{}, func(r scanners.Result) { read = r.Stats.Bytes })
	}
	b.SetBytes(read)
}
