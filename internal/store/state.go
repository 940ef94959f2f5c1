package store

import (
	"context"
	"database/sql"
	"errors"
)

// ScanState returns the stored state of a source (a JSON document the scanner
// owns: ref tips of a repo, offset and inode of a log file), or "" if none.
func (s *Store) ScanState(ctx context.Context, source string) (string, error) {
	var st string
	err := s.db.QueryRowContext(ctx, `SELECT state FROM scan_state WHERE source = ?`, source).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return st, err
}
