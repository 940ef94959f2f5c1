package stores

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// flaky lists two secrets, failing after the first for its first fails calls.
type flaky struct {
	fails, calls int
	err          error
}

func (f *flaky) Name() string     { return "flaky" }
func (f *flaky) Covers() []string { return []string{"x:"} }
func (f *flaky) List(_ context.Context, emit func(Secret)) error {
	f.calls++
	emit(Secret{Path: "x:a"})
	if f.calls <= f.fails {
		return f.err
	}
	emit(Secret{Path: "x:b"})
	return nil
}

func listAll(t *testing.T, s Store) ([]string, error) {
	t.Helper()
	var out []string
	err := s.List(context.Background(), func(sec Secret) { out = append(out, sec.Path) })
	return out, err
}

func TestRetryingListsAgainOnlyOnTransientErrors(t *testing.T) {
	dropped := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	f := &flaky{fails: 1, err: dropped}
	got, err := listAll(t, Retrying(f, 3, time.Millisecond))
	if err != nil || strings.Join(got, ",") != "x:a,x:b" || f.calls != 2 {
		t.Fatalf("transient: %v %v after %d calls (a failed attempt's secrets must not be emitted twice)", got, err, f.calls)
	}
	f = &flaky{fails: 5, err: dropped}
	got, err = listAll(t, Retrying(f, 3, time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "after 3 attempts") || strings.Join(got, ",") != "x:a" || f.calls != 3 {
		t.Fatalf("exhausted: %v %v after %d calls", got, err, f.calls)
	}
	f = &flaky{fails: 1, err: errors.New("403 permission denied")}
	if _, err := listAll(t, Retrying(f, 3, time.Millisecond)); err == nil || f.calls != 1 {
		t.Fatalf("a refusal was retried: %v, %d calls", err, f.calls)
	}
	if _, wrapped := Retrying(Failed("v", nil, dropped), 3, time.Millisecond).(*retrying); wrapped {
		t.Fatal("a store that could not be opened is not worth listing again")
	}
}
