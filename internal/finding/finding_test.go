package finding

import "testing"

func TestFingerprintIsStableAndSeparatesParts(t *testing.T) {
	a := Fingerprint("leak.git", "repo", "abc", "f.txt", "3")
	if a != Fingerprint("leak.git", "repo", "abc", "f.txt", "3") {
		t.Fatal("same problem, different ids")
	}
	// Golden value: ids are stored in databases and SARIF uploads, so a
	// change to the scheme is a breaking change and must be deliberate.
	if a != "752e5e7e93ef925948bd4501be61d11c" {
		t.Fatalf("fingerprint scheme changed: %s", a)
	}
	for _, other := range []string{
		Fingerprint("leak.file", "repo", "abc", "f.txt", "3"),
		Fingerprint("leak.git", "repoabc", "", "f.txt", "3"),
		Fingerprint("leak.git", "repo", "abc", "f.txt", "4"),
	} {
		if other == a {
			t.Fatal("different problems share an id")
		}
	}
}

func TestSeverities(t *testing.T) {
	if !Critical.AtLeast(High) || Medium.AtLeast(High) || !High.AtLeast(High) {
		t.Fatal("ordering")
	}
	if s, err := ParseSeverity(" HIGH "); err != nil || s != High {
		t.Fatalf("parse: %v %v", s, err)
	}
	if _, err := ParseSeverity("urgent"); err == nil {
		t.Fatal("unknown severity accepted")
	}
}
