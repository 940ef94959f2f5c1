package watchdog

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A server a test binary left running, and its directory, are gone soon
// after the binary exits: here a helper process (this test binary, run
// again) starts a server (sleep) and exits without stopping it.
func TestCleanUpWithParent(t *testing.T) {
	if dir := os.Getenv("VIGIL_WATCHDOG_HELPER"); dir != "" {
		srv := exec.Command("sleep", "60")
		srv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // not killed with the helper's group
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(srv.Process.Pid)), 0o600)
		if err := CleanUpWithParent(dir, srv.Process.Pid); err != nil {
			t.Fatal(err)
		}
		os.Exit(0) // no Cleanup, no deferred stop: as a test binary that ends
	}
	dir := filepath.Join(t.TempDir(), "server")
	os.Mkdir(dir, 0o700)
	helper := exec.Command(os.Args[0], "-test.run=^TestCleanUpWithParent$")
	helper.Env = append(os.Environ(), "VIGIL_WATCHDOG_HELPER="+dir)
	if out, err := helper.CombinedOutput(); err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, statErr := os.Stat(dir)
		alive := pid > 0 && syscall.Kill(pid, 0) == nil
		if os.IsNotExist(statErr) && !alive {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the helper exited: directory there %v, server alive %v", statErr == nil, alive)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
