// Package pgtest starts the PostgreSQL server tests use: Debian's
// postgresql, initialised in a temporary directory and run as an
// unprivileged user on loopback. It is apart from testenv so that the
// store's own tests (which testenv imports) can use it.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/vigilsec/vigil/internal/testenv/watchdog"
)

// pgServer is one PostgreSQL server per test process: Debian's postgresql,
// initialised in a temporary directory and started on a loopback port as
// an unprivileged user (the postgres account when the tests run as root:
// PostgreSQL refuses to run as root). Each test gets a database of its own.
var pgServer struct {
	once sync.Once
	dsn  string // without the database name
	err  error
	n    atomic.Int64
}

// pgBin finds Debian's PostgreSQL server binaries.
func pgBin() (string, error) {
	ms, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(ms) == 0 {
		if p, err := exec.LookPath("postgres"); err == nil {
			return filepath.Dir(p), nil
		}
		return "", fmt.Errorf("no PostgreSQL server (Debian's postgresql package)")
	}
	return filepath.Dir(ms[len(ms)-1]), nil
}

// Database returns the DSN of a fresh, empty database on the test
// process's PostgreSQL server, starting the server on first use.
func Database(t testing.TB) string {
	t.Helper()
	pgServer.once.Do(func() { pgServer.dsn, pgServer.err = startPostgres() })
	if pgServer.err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("postgres: %v", pgServer.err)
		}
		t.Skipf("postgres: %v", pgServer.err)
	}
	dsn, err := NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// NewDatabase returns the DSN of a fresh, empty database on this
// process's server, starting it on first use (benchmarks use it outside a
// test; the server stops when the process exits).
func NewDatabase() (string, error) {
	pgServer.once.Do(func() { pgServer.dsn, pgServer.err = startPostgres() })
	if pgServer.err != nil {
		return "", pgServer.err
	}
	name := fmt.Sprintf("vigil_test_%d_%d", os.Getpid(), pgServer.n.Add(1))
	db, err := sql.Open("pgx", pgServer.dsn+"/postgres?sslmode=disable")
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	return pgServer.dsn + "/" + name + "?sslmode=disable", nil
}

func startPostgres() (string, error) {
	bin, err := pgBin()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "vigil-pg-")
	if err != nil {
		return "", err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return "", fmt.Errorf("running as root and no postgres user to run the server as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return "", err
		}
	}
	run := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
		return cmd
	}
	data := filepath.Join(dir, "data")
	if out, err := run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		return "", fmt.Errorf("initdb: %v: %s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := run("postgres", "-D", data, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-k", dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200")
	logf, _ := os.Create(filepath.Join(dir, "postgres.log"))
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		return "", fmt.Errorf("start postgres: %w", err)
	}
	// The server dies with the test process, and its directory goes.
	go func() { _ = srv.Wait() }()
	if err := watchdog.CleanUpWithParent(dir, srv.Process.Pid); err != nil {
		_ = srv.Process.Kill()
		return "", err
	}
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		db, err := sql.Open("pgx", dsn+"/postgres?sslmode=disable")
		if err == nil {
			err = db.PingContext(context.Background())
			db.Close()
		}
		if err == nil {
			return dsn, nil
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			return "", fmt.Errorf("postgres did not start: %v\n%s", err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
