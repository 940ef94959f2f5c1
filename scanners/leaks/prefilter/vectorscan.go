//go:build vectorscan

package prefilter

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/flier/gohs/hyperscan"
)

// hsMatcher is one Vectorscan block-mode database of every rule's
// expression, each in prefilter mode (Vectorscan may widen an expression it
// cannot run exactly, never narrow it) and reported once.
type hsMatcher struct {
	db hyperscan.BlockDatabase
}

func compile(exprs, ids []string) (matcher, error) {
	pats := make([]*hyperscan.Pattern, len(exprs))
	for i, e := range exprs {
		pats[i] = hyperscan.NewPattern(e, hyperscan.PrefilterMode|hyperscan.SingleMatch)
		pats[i].Id = i
	}
	db, err := hyperscan.NewBlockDatabase(pats...)
	if err != nil {
		// Name the rule: Vectorscan's error says which expression.
		var ce *hyperscan.CompileError
		if errors.As(err, &ce) && ce.Expression >= 0 && ce.Expression < len(ids) {
			return nil, fmt.Errorf("rule %s: vectorscan: %s", ids[ce.Expression], ce.Message)
		}
		return nil, fmt.Errorf("vectorscan: %w", err)
	}
	return &hsMatcher{db: db}, nil
}

func (m *hsMatcher) marshal() ([]byte, error) { return m.db.Marshal() }

// unmarshal reads a database marshal wrote. Vectorscan checks that it was
// compiled by this version for this platform, and refuses it otherwise.
func unmarshal(b []byte) (matcher, error) {
	db, err := hyperscan.UnmarshalBlockDatabase(b)
	if err != nil {
		return nil, err
	}
	return &hsMatcher{db: db}, nil
}

// engineVersion names the Vectorscan linked: a cached database is only
// read by the version that wrote it.
func engineVersion() string { return "vectorscan " + hyperscan.Version() }

func (m *hsMatcher) newScratch() (scratch, error) {
	s, err := hyperscan.NewScratch(m.db)
	if err != nil {
		return nil, err
	}
	return &hsScratch{db: m.db, s: s}, nil
}

type hsScratch struct {
	db hyperscan.BlockDatabase
	s  *hyperscan.Scratch
}

func (s *hsScratch) matches(t string, into []int) ([]int, error) {
	if len(t) == 0 {
		return into, nil
	}
	// Vectorscan only reads the bytes; a copy of every fragment would cost
	// more than the scan. Each expression reports once (SingleMatch).
	b := unsafe.Slice(unsafe.StringData(t), len(t))
	err := s.db.Scan(b, s.s, func(id uint, from, to uint64, flags uint, _ interface{}) error {
		into = append(into, int(id))
		return nil
	}, nil)
	return into, err
}
