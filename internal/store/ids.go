package store

import (
	"context"
	"errors"
	"fmt"
)

// ErrUnknownID is returned when no row has an id with the given prefix.
var ErrUnknownID = errors.New("no such id")

// ErrAmbiguousID is returned when several rows share the given prefix.
var ErrAmbiguousID = errors.New("ambiguous id")

// idColumns are the ids a person may abbreviate, by what they name.
var idColumns = map[string][2]string{
	"finding": {"findings", "id"},
	"action":  {"remediation_actions", "id"},
	"plan":    {"remediation_actions", "plan_id"},
}

// ResolveID turns a unique prefix of an id (as tables print them, 12
// characters) into the whole id, the way git resolves abbreviated hashes.
// what is "finding", "action" or "plan".
func (s *Store) ResolveID(ctx context.Context, what, prefix string) (string, error) {
	tc, ok := idColumns[what]
	if !ok {
		return "", fmt.Errorf("unknown id kind %q", what)
	}
	if prefix == "" {
		return "", fmt.Errorf("%w: empty %s id", ErrUnknownID, what)
	}
	// Table and column names come from idColumns, never from input.
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT `+tc[1]+` FROM `+tc[0]+
		` WHERE substr(`+tc[1]+`, 1, length(?)) = ? ORDER BY `+tc[1]+` LIMIT 3`, prefix, prefix)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return "", err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	switch {
	case len(ids) == 0:
		return "", fmt.Errorf("%w: no %s %s", ErrUnknownID, what, prefix)
	case len(ids) > 1 && ids[0] != prefix:
		return "", fmt.Errorf("%w: %s %s matches several (%s, %s, ...): give more characters", ErrAmbiguousID, what, prefix, ids[0], ids[1])
	}
	return ids[0], nil
}

// ResolveIDs resolves each prefix with ResolveID.
func (s *Store) ResolveIDs(ctx context.Context, what string, prefixes []string) ([]string, error) {
	out := make([]string, 0, len(prefixes))
	for _, p := range prefixes {
		id, err := s.ResolveID(ctx, what, p)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}
