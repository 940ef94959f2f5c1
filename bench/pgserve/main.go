// Command pgserve starts a PostgreSQL server for bench/shards.sh (Debian's
// server, as the tests start it), writes the DSNs of N fresh databases to
// -dsn-file, one per line, and serves until it is stopped.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/vigilsec/vigil/internal/testenv/pgtest"
)

func main() {
	n := flag.Int("n", 1, "databases to create")
	out := flag.String("dsn-file", "", "where to write their DSNs")
	flag.Parse()
	var dsns []string
	for i := 0; i < *n; i++ {
		dsn, err := pgtest.NewDatabase()
		if err != nil {
			fmt.Fprintln(os.Stderr, "pgserve:", err)
			os.Exit(1)
		}
		dsns = append(dsns, dsn)
	}
	if err := os.WriteFile(*out, []byte(strings.Join(dsns, "\n")+"\n"), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "pgserve:", err)
		os.Exit(1)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
