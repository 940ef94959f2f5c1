package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// shutdownGrace is how long a run has, after SIGTERM or Ctrl-C, to store
// what it has and release its lease before the process exits anyway. A
// CronJob's deadline sends SIGTERM and then SIGKILL; a run that ignored the
// first would hold its lease until it expired.
const shutdownGrace = 4 * time.Second

// interruptible returns a context that SIGINT and SIGTERM cancel. Every
// blocking step of a run watches it; should one not, the process exits
// with the partial-run code shutdownGrace later, or at a second signal.
// Nothing already stored is lost: each source is stored in one
// transaction, and the lease left behind expires.
func interruptible(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
			return
		case s := <-sigs:
			cancel()
			select {
			case <-done:
			case <-sigs:
				fmt.Fprintf(os.Stderr, "vigil: second %v: exiting now\n", s)
				os.Exit(exitPartial)
			case <-time.After(shutdownGrace):
				fmt.Fprintf(os.Stderr, "vigil: %v: the run did not stop within %v: exiting\n", s, shutdownGrace)
				os.Exit(exitPartial)
			}
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}
