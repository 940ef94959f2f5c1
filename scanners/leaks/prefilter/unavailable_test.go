//go:build !vectorscan

package prefilter

import (
	"errors"
	"testing"

	"github.com/zricethezav/gitleaks/v8/config"
)

// Without Vectorscan there is no filter, and New says so: the caller then
// gives gitleaks every fragment.
func TestNoFilterWithoutVectorscan(t *testing.T) {
	if _, err := New(config.Config{}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("New = %v, want ErrUnavailable", err)
	}
}
