//go:build !vectorscan

package prefilter

func compile(exprs, ids []string) (matcher, error) { return nil, ErrUnavailable }

func unmarshal([]byte) (matcher, error) { return nil, ErrUnavailable }

// engineVersion is empty: no engine is linked, and Load says so at once.
func engineVersion() string { return "" }
