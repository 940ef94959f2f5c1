package leaks

import (
	"strings"
	"testing"

	"github.com/gitleaks/go-gitdiff/gitdiff"
)

// addedText is go-gitdiff's Raw(OpAdd), only cheaper: the same text for
// hunks of added, removed and context lines, empty added lines, a single
// added line, one without a final newline, and none at all.
func TestAddedTextIsRaw(t *testing.T) {
	patch := "diff --git a/f b/f\n--- a/f\n+++ b/f\n" +
		"@@ -1,2 +1,3 @@\n-old\n+new one\n+\n context\n" +
		"@@ -10 +11 @@\n-x\n+only\n" +
		"@@ -20,2 +21,0 @@\n-gone\n-gone too\n" +
		"@@ -30 +30 @@\n-a\n+b\n\\ No newline at end of file\n" +
		"@@ -40,0 +41,2 @@\n+crlf\r\n+" + strings.Repeat("long ", 2000) + "\n"
	files, err := gitdiff.Parse(strings.NewReader(patch))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for f := range files {
		for _, tf := range f.TextFragments {
			n++
			if got, want := addedText(tf), tf.Raw(gitdiff.OpAdd); got != want {
				t.Errorf("hunk %d: %q, Raw %q", n, got, want)
			}
		}
	}
	if n != 5 {
		t.Fatalf("%d hunks parsed, want 5", n)
	}
}
