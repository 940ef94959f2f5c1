package testenv

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
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
		port, err := freePort()
		if err != nil {
			baoErr = err
			return
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		cmd := exec.Command("bao", "server", "-dev", "-dev-root-token-id="+OpenBaoToken, "-dev-listen-address="+addr)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		log, _ := os.CreateTemp("", "openbao-*.log")
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			baoErr = fmt.Errorf("start bao: %w", err)
			return
		}
		url := "http://" + addr
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if resp, err := http.Get(url + "/v1/sys/health"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					baoAddr = url
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		cmd.Process.Kill()
		b, _ := os.ReadFile(log.Name())
		baoErr = fmt.Errorf("OpenBao did not become healthy on %s:\n%s", url, b)
	})
	if baoErr != nil {
		t.Fatal(baoErr)
	}
	return baoAddr
}
