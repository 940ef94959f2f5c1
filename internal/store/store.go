// Package store persists vigil's memory in one SQLite file (modernc.org/sqlite,
// no cgo) or a PostgreSQL database (pgx), shared by several vigil
// processes: runs, findings and their lifecycle, per-source scan state, and
// the audit hash chain.
//
// Crash safety rests on one rule: a source's findings and the scan state that
// says "scanned up to here" are written in the same transaction. A run killed
// at any point therefore either stored a source completely or not at all, and
// the next run rescans what was not stored. WAL mode keeps readers (reports,
// `vigil findings`) from blocking the nightly writer.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/secrethash"
)

// Store is an open vigil database.
type Store struct {
	db   db
	pg   bool
	path string
	mac  *secrethash.Hasher
	now  func() time.Time
}

// ErrNoDatabase is returned by OpenExisting when there is no database yet.
var ErrNoDatabase = errors.New("no vigil database")

// Open opens (creating if needed) the database at path and upgrades its schema
// in place. The hasher keys the audit chain, so rows can't be re-hashed by
// someone who can write the file but doesn't hold the key.
func Open(ctx context.Context, path string, mac *secrethash.Hasher) (*Store, error) {
	return openDB(ctx, path, mac, true)
}

// OpenExisting opens a database that must already exist: commands that only
// read (findings, reports, audit verify) never create an empty one, which
// would then report "intact: 0 rows" about the wrong file.
func OpenExisting(ctx context.Context, path string, mac *secrethash.Hasher) (*Store, error) {
	return openDB(ctx, path, mac, false)
}

// Exists reports whether a database file is at path, or, for PostgreSQL,
// whether the database holds vigil's schema (an unreachable one counts as
// existing, so that opening it names the problem).
func Exists(path string) bool {
	if IsPostgres(path) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sqldb, err := sql.Open("pgx", path)
		if err != nil {
			return true
		}
		defer sqldb.Close()
		var exists bool
		if err := sqldb.QueryRowContext(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
			return true
		}
		return exists
	}
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// IsPostgres says whether a db setting names a PostgreSQL database rather
// than a SQLite file.
func IsPostgres(db string) bool { return config.IsPostgres(db) }

func openDB(ctx context.Context, path string, mac *secrethash.Hasher, create bool) (*Store, error) {
	if IsPostgres(path) {
		return openPostgres(ctx, path, mac, create)
	}
	if !create && !Exists(path) {
		return nil, fmt.Errorf("%w at %s: run `vigil run` first, or name the database with --config or --db", ErrNoDatabase, path)
	}
	if err := prepareFiles(path); err != nil {
		return nil, err
	}
	q := url.Values{}
	for _, p := range []string{
		// busy_timeout first: switching a new database to WAL takes a lock
		// that a second process opening it at the same moment must wait for.
		"busy_timeout(10000)",
		"journal_mode(WAL)",
		"foreign_keys(1)",
		// FULL: a finished transaction survives power loss too, not only a
		// killed process. vigil writes little, so the cost is small.
		"synchronous(FULL)",
	} {
		q.Add("_pragma", p)
	}
	// IMMEDIATE: a transaction takes the write lock when it begins, so two
	// processes never both read "version 0" and then race to migrate, and
	// a busy database waits out busy_timeout instead of failing mid-way.
	q.Set("_txlock", "immediate")
	sqldb, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// One connection: SQLite has one writer anyway, and a single connection
	// makes every statement see the same transaction state.
	sqldb.SetMaxOpenConns(1)
	s := &Store{db: db{DB: sqldb}, path: path, mac: mac, now: func() time.Time { return time.Now().UTC() }}
	// Switching a new database to WAL takes an exclusive lock that SQLite
	// does not wait for with busy_timeout: a first run racing another may
	// be told "busy" once or twice. That is waited out here, within bounds.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.migrate(ctx)
		if err == nil {
			return s, nil
		}
		if !busy(err) || time.Now().After(deadline) || ctx.Err() != nil {
			sqldb.Close()
			return nil, fmt.Errorf("migrate database %s: %w", path, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// openPostgres opens a PostgreSQL database (pgx) and migrates it. The
// DSN's password, if any, is never shown: errors and Path name the
// database by its redacted URL (a password is better given as PGPASSWORD).
func openPostgres(ctx context.Context, dsn string, mac *secrethash.Hasher, create bool) (*Store, error) {
	shown := secrethash.RedactURL(dsn)
	sqldb, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %s", shown, scrubDSN(err, dsn))
	}
	sqldb.SetMaxOpenConns(8)
	if err := sqldb.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("open database %s: %s", shown, scrubDSN(err, dsn))
	}
	s := &Store{db: db{DB: sqldb, pg: true}, pg: true, path: shown, mac: mac, now: func() time.Time { return time.Now().UTC() }}
	if !create {
		var exists bool
		if err := sqldb.QueryRowContext(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil || !exists {
			sqldb.Close()
			return nil, fmt.Errorf("%w at %s: run `vigil run` first, or name the database with --config or --db", ErrNoDatabase, shown)
		}
	}
	if err := s.migrate(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("migrate database %s: %s", shown, scrubDSN(err, dsn))
	}
	return s, nil
}

// CheckPostgres connects to a PostgreSQL database and checks that vigil can
// create its tables there, changing nothing (for `vigil doctor`). Errors
// never carry the DSN's password.
func CheckPostgres(ctx context.Context, dsn string) error {
	sqldb, err := sql.Open("pgx", dsn)
	if err != nil {
		return errors.New(scrubDSN(err, dsn))
	}
	defer sqldb.Close()
	var can bool
	if err := sqldb.QueryRowContext(ctx, `SELECT has_schema_privilege(current_schema(), 'CREATE')`).Scan(&can); err != nil {
		return errors.New(scrubDSN(err, dsn))
	}
	if !can {
		return errors.New("connected, but this role may not create tables in the current schema (vigil's migrations do)")
	}
	return nil
}

// scrubDSN is err's text without the DSN's password.
func scrubDSN(err error, dsn string) string {
	msg := err.Error()
	if u, perr := url.Parse(dsn); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "****")
		}
	}
	return strings.ReplaceAll(msg, dsn, secrethash.RedactURL(dsn))
}

// prepareFiles creates the database file private (0600) before SQLite
// opens it: SQLite gives the -wal and -shm files it creates the database
// file's mode, so a database born 0644 leaks its WAL to every local user. A
// leftover -wal or -shm this process cannot write (another user's, or a
// read-only copy) makes SQLite fail with a bare "readonly database"; name it.
func prepareFiles(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create database directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open database %s: %w", path, err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("database file %s: %w", p, err)
		}
		// Mode bits as well as access(2): root may write anything, but a
		// file someone made read-only was made so for a reason.
		if fi.Mode().Perm()&0o200 == 0 || syscall.Access(p, 2 /* W_OK */) != nil {
			return fmt.Errorf("database file %s is read-only (mode %v) or not this user's: remove it if no vigil process is running, or run vigil as its owner", p, fi.Mode().Perm())
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, 0o600); err != nil {
				return fmt.Errorf("database file %s has mode %v and can't be made private: %w", p, fi.Mode().Perm(), err)
			}
		}
	}
	return nil
}

// busy reports whether err is SQLite's SQLITE_BUSY (another connection
// holds the lock).
func busy(err error) bool {
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		return coded.Code()&0xff == 5 // SQLITE_BUSY and its extended codes
	}
	return false
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Path returns the database file (for PostgreSQL, its URL without a
// password).
func (s *Store) Path() string { return s.path }

// SetClock replaces the clock; tests use it to move between "nights".
func (s *Store) SetClock(now func() time.Time) { s.now = func() time.Time { return now().UTC() } }

func (s *Store) tx(ctx context.Context, fn func(*Tx) error) error {
	t, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	x := &Tx{Tx: t, pg: s.pg}
	if s.pg {
		// One writer at a time, as SQLite's IMMEDIATE transactions have
		// it: every read-then-write of the store (the audit chain's next
		// sequence number, a finding's previous status) stays exact when
		// several vigil processes share the database.
		if _, err := x.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7150001)`); err != nil {
			_ = t.Rollback()
			return err
		}
	}
	if err := fn(x); err != nil {
		_ = t.Rollback()
		return err
	}
	return t.Commit()
}

const timeFmt = time.RFC3339Nano

func ts(t time.Time) string { return t.UTC().Format(timeFmt) }

func parseTS(s sql.NullString) time.Time {
	if !s.Valid {
		return time.Time{}
	}
	t, _ := time.Parse(timeFmt, s.String)
	return t
}
