package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/secrethash"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/reports"
)

// Exit codes (the design contract).
const (
	exitOK       = 0
	exitFindings = 1
	exitUsage    = 2
	exitPartial  = 3
)

// stopProfile ends a --cpuprofile; main calls it whatever the exit code.
var stopProfile = func() {}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func usageErr(err error) error { return &exitError{code: exitUsage, err: err} }

// globals are the flags every command takes.
type globals struct {
	configPath string
	dbPath     string
	format     string
	logLevel   string
	quiet      bool
	newKey     bool
	cpuProfile string
	memProfile string
	log        *slog.Logger
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           binaryName,
		Short:         "Inventory, leak, IAM-drift and least-privilege checks for secrets, remembered between runs",
		Long:          rootLong,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
				return usageErr(fmt.Errorf("--log-level: %w", err))
			}
			if g.quiet && lvl < slog.LevelWarn {
				lvl = slog.LevelWarn
			}
			// Logs go to stderr so that --format json on stdout stays clean.
			g.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
			switch g.format {
			case "table", "json":
			default:
				return usageErr(fmt.Errorf("--format must be table or json, not %q", g.format))
			}
			reports.Version = version
			if g.cpuProfile != "" {
				f, err := os.Create(g.cpuProfile)
				if err != nil {
					return usageErr(err)
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					return usageErr(err)
				}
				stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
			}
			if g.memProfile != "" {
				// Every allocation's site and bytes, written at exit.
				runtime.MemProfileRate = 64 << 10
				stop := stopProfile
				stopProfile = func() {
					stop()
					if f, err := os.Create(g.memProfile); err == nil {
						_ = pprof.Lookup("allocs").WriteTo(f, 0)
						f.Close()
					}
				}
			}
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&g.configPath, "config", "c", "", "vigil.yaml to use")
	pf.StringVar(&g.dbPath, "db", "", "SQLite database (default: the config's db, else ./vigil.db)")
	pf.StringVar(&g.format, "format", "table", "how findings are printed: table or json")
	pf.StringVar(&g.logLevel, "log-level", "info", "debug, info, warn or error")
	pf.BoolVarP(&g.quiet, "quiet", "q", false, "only warnings and errors on stderr, no progress")
	pf.BoolVar(&g.newKey, "new-key", false, "create a new hash key for a database whose key is lost (its old audit rows will no longer verify)")
	pf.StringVar(&g.cpuProfile, "cpuprofile", "", "write a CPU profile (for performance work)")
	_ = pf.MarkHidden("cpuprofile")
	pf.StringVar(&g.memProfile, "memprofile", "", "write an allocation profile at exit (for performance work)")
	_ = pf.MarkHidden("memprofile")
	root.AddCommand(commands(g)...)
	return root
}

// loadConfig loads --config; a configuration error exits 2.
func (g *globals) loadConfig() (*config.Config, error) {
	if g.configPath == "" {
		return nil, usageErr(fmt.Errorf("--config is required"))
	}
	cfg, err := config.Load(g.configPath)
	if err != nil {
		return nil, usageErr(err)
	}
	if g.dbPath != "" {
		cfg.DB = g.dbPath
	}
	return cfg, nil
}

// openStore opens the database and its hash key (the config's key file,
// VIGIL_HASH_KEY, or vigil.key beside the database). Only commands that
// store runs pass create: a command that reads never makes an empty
// database (which would then verify as "intact: 0 rows"), and no command
// ever replaces the lost key of an existing database unless --new-key says so.
func (g *globals) openStore(cmd *cobra.Command, cfg *config.Config, create bool) (*store.Store, *secrethash.Hasher, error) {
	db := g.dbPath
	keyFile := ""
	if cfg != nil {
		db, keyFile = cfg.DB, cfg.HashKeyFile
	}
	if db == "" {
		db = "vigil.db"
	}
	if keyFile == "" {
		keyFile = filepath.Join(filepath.Dir(db), "vigil.key")
		if store.IsPostgres(db) {
			keyFile = "vigil.key"
		}
	}
	// A PostgreSQL URL is shown without its password.
	shown := secrethash.RedactURL(db)
	exists := store.Exists(db)
	if !exists && !create {
		return nil, nil, usageErr(fmt.Errorf("no vigil database at %s: run `vigil run` first, or name it with --config or --db", shown))
	}
	h, err := secrethash.LoadExisting(keyFile)
	replaced := false
	switch {
	case errors.Is(err, secrethash.ErrNoKey) && exists && !g.newKey:
		return nil, nil, usageErr(fmt.Errorf("database %s exists but its hash key is missing: %w. Restore the key (or set %s), "+
			"or start over deliberately with --new-key: the audit rows and stored leak hashes made under the old key will no longer verify or match",
			shown, err, secrethash.EnvKey))
	case errors.Is(err, secrethash.ErrNoKey) && create:
		h, err = secrethash.Load(keyFile)
		replaced = exists
	}
	if err != nil {
		return nil, nil, usageErr(err)
	}
	if create && os.Getenv(secrethash.EnvKey) == "" && !store.IsPostgres(db) && sameDir(keyFile, db) {
		g.log.Warn("the hash key is kept beside the database: whoever can write both can forge the audit chain; "+
			"keep it elsewhere (hash_key_file in vigil.yaml, or VIGIL_HASH_KEY from a secret store)", "key", keyFile)
	}
	open := store.Open
	if !create {
		open = store.OpenExisting
	}
	st, err := open(cmd.Context(), db, h)
	if err != nil {
		return nil, nil, err
	}
	if replaced {
		if err := st.RecordKeyReplaced(cmd.Context(), keyFile); err != nil {
			st.Close()
			return nil, nil, err
		}
		g.log.Warn("a new hash key was created for an existing database (--new-key): older audit rows will not verify", "key", keyFile)
	}
	return st, h, nil
}

func sameDir(a, b string) bool {
	da, _ := filepath.Abs(filepath.Dir(a))
	db, _ := filepath.Abs(filepath.Dir(b))
	return da == db
}

// exitFor maps a run's outcome to the exit code: a partial run wins over
// findings, because a monitor must learn that a source went unscanned.
func exitFor(partial bool, open []finding.Finding, failOn finding.Severity) error {
	if partial {
		return &exitError{code: exitPartial}
	}
	for _, f := range open {
		if f.Status == finding.StatusOpen && f.Severity.AtLeast(failOn) {
			return &exitError{code: exitFindings}
		}
	}
	return nil
}

var timeZero = time.Time{}
