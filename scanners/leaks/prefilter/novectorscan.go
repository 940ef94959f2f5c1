//go:build !vectorscan

package prefilter

func compile(exprs, ids []string) (matcher, error) { return nil, ErrUnavailable }

func unmarshal([]byte) (matcher, error) { return nil, ErrUnavailable }

func engineVersion() string { return "" }
