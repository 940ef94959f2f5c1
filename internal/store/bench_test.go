package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/testenv/pgtest"
)

// benchStore opens an empty store on engine ("sqlite" or "postgres"),
// closed when the benchmark ends.
func benchStore(b *testing.B, engine string) *Store {
	h, _ := secrethash.New([]byte(strings.Repeat("s", 32)))
	where := filepath.Join(b.TempDir(), "v.db")
	if engine == "postgres" {
		where = pgtest.Database(b)
	}
	s, err := Open(context.Background(), where, h)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkApply is the store's cost per finding written: one source's
// batch of 100 new findings per operation (a night's new leaks in a
// repository), with their events and audit row, on each engine. ns/op
// divided by 100 is the cost of one finding.
func BenchmarkApply(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			s := benchStore(b, engine)
			ctx := context.Background()
			run, err := s.BeginRun(ctx, "bench")
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				fs := make([]finding.Finding, 100)
				for j := range fs {
					fs[j] = f(fmt.Sprintf("f-%d-%d", i, j))
				}
				if _, err := s.Apply(ctx, run, Batch{Source: fmt.Sprintf("git:r%d", i), Mode: Full, Findings: fs}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkApplyNextNight is a night later: per operation, one source's
// batch where 100 findings are seen again (still open) and 100 are not
// (resolved), on each engine. ns/op divided by 200 is the cost of one
// finding updated or resolved.
func BenchmarkApplyNextNight(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			s := benchStore(b, engine)
			ctx := context.Background()
			first, err := s.BeginRun(ctx, "bench")
			if err != nil {
				b.Fatal(err)
			}
			batch := func(i, n int) []finding.Finding {
				fs := make([]finding.Finding, n)
				for j := range fs {
					fs[j] = f(fmt.Sprintf("f-%d-%d", i, j))
				}
				return fs
			}
			for i := 0; i < b.N; i++ {
				if _, err := s.Apply(ctx, first, Batch{Source: fmt.Sprintf("git:r%d", i), Mode: Full, Findings: batch(i, 200)}); err != nil {
					b.Fatal(err)
				}
			}
			second, err := s.BeginRun(ctx, "bench")
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c, err := s.Apply(ctx, second, Batch{Source: fmt.Sprintf("git:r%d", i), Mode: Full, Findings: batch(i, 100)})
				if err != nil || c.StillOpen != 100 || c.Resolved != 100 {
					b.Fatal(err, c)
				}
			}
		})
	}
}
