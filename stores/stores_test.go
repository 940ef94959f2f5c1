package stores

import (
	"strings"
	"testing"
)

func TestUnmatched(t *testing.T) {
	got := Unmatched([]string{"prod", "prod-*", "typo", "dev?", `a\*`}, []string{"prod", "staging"})
	if strings.Join(got, ",") != "typo" {
		t.Fatalf("%v", got)
	}
}
