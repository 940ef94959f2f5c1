package policy

import (
	"strings"
	"testing"
)

func TestContainsTable(t *testing.T) {
	cases := []struct {
		outer, inner string
		want         bool
	}{
		{"*", "*", true},
		{"*", "s3:GetObject", true},
		{"*", "", true},
		{"", "", true},
		{"", "*", false},
		{"s3:*", "s3:GetObject", true},
		{"s3:*", "s3:Get*", true},
		{"s3:*", "*", false},
		{"s3:Get*", "s3:*", false},
		{"s3:Get*", "s3:GetObject", true},
		{"s3:Get*", "s3:GetObject*", true},
		{"s3:Get*", "s3:Put*", false},
		{"s3:GetObject", "s3:GetObject", true},
		{"s3:GetObject", "s3:Get*", false},
		{"s3:GetObjec?", "s3:GetObject", true},
		{"s3:GetObjec?", "s3:GetObjec?", true},
		{"s3:GetObjec?", "s3:GetObjec*", false},
		{"s3:Get??ject", "s3:GetObject", true},
		{"s3:Get??ject", "s3:GetOb?ect", false}, // inner matches s3:GetObxect
		{"s3:Get?ject", "s3:GetObject", false},
		{"*Object", "s3:GetObject", true},
		{"*Object", "s3:*Object", true},
		{"*Object", "s3:*", false},
		{"*:*", "s3:GetObject", true},
		{"*:*", "*", false},
		{"s3:*Object*", "s3:GetObjectAcl", true},
		{"s3:*Object*", "s3:*Object", true},
		{"s3:*Object*", "s3:Get*", false},
		{"**", "*", true},
		{"*", "**", true},
		{"*a*", "*a*a*", true},
		{"*a*a*", "*a*", false},
		{"?*", "*?", true},
		{"?*", "*", false},
		{"*?", "?*", true},
		{"arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/data/*", true},
		{"arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket", false},
		{"arn:aws:s3:::bucket*", "arn:aws:s3:::bucket", true},
		{"arn:aws:s3:::bucket*", "arn:aws:s3:::bucket-other/*", true},
		{"arn:aws:s3:::bucket/*", "arn:aws:s3:::BUCKET/x", false},
		{"arn:aws:iam::123456789012:role/etl-*", "arn:aws:iam::123456789012:role/etl-loader", true},
		{"arn:aws:iam::*:role/etl-*", "arn:aws:iam::123456789012:role/etl-?", true},
		{"arn:aws:iam::123456789012:role/etl-*", "arn:aws:iam::*:role/etl-x", false},
		{"a?c", "abc", true},
		{"a?c", "a?c", true},
		{"a?c", "a*c", false},
	}
	for _, tc := range cases {
		if got := Contains(tc.outer, tc.inner); got != tc.want {
			t.Errorf("Contains(%q, %q) = %v, want %v", tc.outer, tc.inner, got, tc.want)
		}
	}
	if len(cases) < 40 {
		t.Fatalf("the table must have at least 40 cases, has %d", len(cases))
	}
}

func TestActionsAreCaseInsensitiveResourcesAreNot(t *testing.T) {
	if !ActionContains("S3:get*", "s3:GetObject") || !ActionOverlaps("IAM:*", "iam:Pass*") {
		t.Fatal("actions must compare case-insensitively")
	}
	if Contains("arn:aws:s3:::Bucket/*", "arn:aws:s3:::bucket/x") {
		t.Fatal("resources must compare case-sensitively")
	}
}

func TestOverlapsTable(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"s3:Get*", "s3:*Object", true},
		{"s3:Get*", "s3:Put*", false},
		{"*", "", true},
		{"a*", "*b", true},
		{"a?", "?b", true},
		{"a?", "b?", false},
		{"abc", "a*c", true},
		{"abc", "a?d", false},
		{"*x*", "*y*", true},
		{"x", "", false},
		{"", "*", true},
		{"??", "?", false},
		{"?*", "", false},
	}
	for _, tc := range cases {
		if got := Overlaps(tc.a, tc.b); got != tc.want {
			t.Errorf("Overlaps(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := Overlaps(tc.b, tc.a); got != tc.want {
			t.Errorf("Overlaps(%q, %q) = %v, want %v (symmetry)", tc.b, tc.a, got, tc.want)
		}
	}
}

// bruteMatch is an independent matcher: plain recursion.
func bruteMatch(p, s string) bool {
	if p == "" {
		return s == ""
	}
	switch p[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if bruteMatch(p[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && bruteMatch(p[1:], s[1:])
	}
	return s != "" && s[0] == p[0] && bruteMatch(p[1:], s[1:])
}

// strings over the patterns' literals plus one letter they lack, up to n:
// enough to witness any difference between two such patterns.
func allStrings(alphabet string, n int) []string {
	out := []string{""}
	level := []string{""}
	for k := 0; k < n; k++ {
		var next []string
		for _, s := range level {
			for _, c := range alphabet {
				next = append(next, s+string(c))
			}
		}
		out = append(out, next...)
		level = next
	}
	return out
}

func sanitize(p string) string {
	var b strings.Builder
	for _, c := range p {
		switch c {
		case 'a', 'b', ':', '*', '?':
			b.WriteRune(c)
		}
		if b.Len() >= 5 {
			break
		}
	}
	return b.String()
}

// FuzzContains checks Contains and Overlaps against enumeration: over the
// alphabet {a, b, :, z} every string up to length len(outer)+len(inner)+1.
func FuzzContains(f *testing.F) {
	for _, s := range [][2]string{{"a*", "ab"}, {"*:*", "a:b"}, {"?*", "*?"}, {"a*b", "a?b"}, {"*a*", "*a*a*"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, outer, inner string) {
		outer, inner = sanitize(outer), sanitize(inner)
		wantContains, wantOverlap := true, false
		for _, s := range allStrings("ab:z", len(outer)+len(inner)+1) {
			mi, mo := bruteMatch(inner, s), bruteMatch(outer, s)
			if mi && !mo {
				wantContains = false
			}
			if mi && mo {
				wantOverlap = true
			}
		}
		if got := Contains(outer, inner); got != wantContains {
			t.Fatalf("Contains(%q, %q) = %v, enumeration says %v", outer, inner, got, wantContains)
		}
		if got := Overlaps(outer, inner); got != wantOverlap {
			t.Fatalf("Overlaps(%q, %q) = %v, enumeration says %v", outer, inner, got, wantOverlap)
		}
		for _, s := range allStrings("ab:", 4) {
			if Match(outer, s) != bruteMatch(outer, s) {
				t.Fatalf("Match(%q, %q) disagrees", outer, s)
			}
		}
	})
}
