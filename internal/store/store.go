// Package store persists vigil's memory in one SQLite file (modernc.org/sqlite,
// no cgo): runs, findings and their lifecycle, per-source scan state, and the
// audit hash chain.
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
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/vigilsec/vigil/internal/secrethash"
)

// Store is an open vigil database.
type Store struct {
	db   *sql.DB
	path string
	mac  *secrethash.Hasher
	now  func() time.Time
}

// Open opens (creating if needed) the database at path and upgrades its schema
// in place. The hasher keys the audit chain, so rows can't be re-hashed by
// someone who can write the file but doesn't hold the key.
func Open(ctx context.Context, path string, mac *secrethash.Hasher) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create database directory: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{
		"journal_mode(WAL)",
		"busy_timeout(10000)",
		"foreign_keys(1)",
		// FULL: a finished transaction survives power loss too, not only a
		// killed process. vigil writes little, so the cost is small.
		"synchronous(FULL)",
	} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// One connection: SQLite has one writer anyway, and a single connection
	// makes every statement see the same transaction state.
	db.SetMaxOpenConns(1)
	s := &Store{db: db, path: path, mac: mac, now: func() time.Time { return time.Now().UTC() }}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate database %s: %w", path, err)
	}
	// The database holds hashes and redactions only, but what was scanned
	// and where is still worth keeping private.
	_ = os.Chmod(path, 0o600)
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Path returns the database file.
func (s *Store) Path() string { return s.path }

// SetClock replaces the clock; tests use it to move between "nights".
func (s *Store) SetClock(now func() time.Time) { s.now = func() time.Time { return now().UTC() } }

func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
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
