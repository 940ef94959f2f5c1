package testenv

import (
	"sync"
	"testing"
)

var (
	baoOnce sync.Once
	baoAddr string
	baoErr  error
)

// OpenBaoToken is the dev server's root token.
const OpenBaoToken = "vigil-test-root"

// OpenBao returns the address of a real OpenBao dev server (`bao server
// -dev`) on loopback, started once per test binary and killed with it.
// Tests isolate themselves with mounts of their own.
func OpenBao(t testing.TB) string {
	t.Helper()
	Required(t, "bao")
	baoOnce.Do(func() {
		baoAddr, baoErr = startServer("bao", func(addr string) []string {
			return []string{"server", "-dev", "-dev-root-token-id=" + OpenBaoToken, "-dev-listen-address=" + addr}
		}, nil, "/v1/sys/health", true)
	})
	if baoErr != nil {
		t.Fatal(baoErr)
	}
	return baoAddr
}
