// Package watchdog ends what a test binary started once and kept to its
// end, when the binary exits, however it exits.
package watchdog

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// watchPipes keeps the write end of each watchdog's pipe open for the life
// of the test process.
var watchPipes []*os.File

// CleanUpWithParent stops the processes pids (SIGINT, then SIGKILL after 5
// s) and removes dir when this process exits, however it exits: a watchdog
// reads a pipe whose only writer is this process, and the kernel closes it
// then. It is for the servers a test binary starts once and keeps to its
// end (PostgreSQL, kube-apiserver and etcd), which no test's Cleanup may
// stop, and whose data would otherwise stay behind: etcd's alone is 125 MB,
// and seven packages start a cluster.
func CleanUpWithParent(dir string, pids ...int) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	var ps []string
	for _, p := range pids {
		ps = append(ps, strconv.Itoa(p))
	}
	list := strings.Join(ps, " ")
	script := `read _; kill -INT ` + list + ` 2>/dev/null
for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 ` + list + ` 2>/dev/null || break; sleep 0.5; done
kill -KILL ` + list + ` 2>/dev/null; rm -rf "$1"`
	watch := exec.Command("sh", "-c", script, "watch", dir)
	watch.Stdin = r
	// Its own process group: a signal to the test's group does not reach it.
	watch.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := watch.Start(); err != nil {
		r.Close()
		w.Close()
		return err
	}
	r.Close()
	watchPipes = append(watchPipes, w)
	return nil
}
