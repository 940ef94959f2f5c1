package prefilter

import (
	"encoding/base64"
	"encoding/hex"
	"math/rand"
	"net/url"
	"strings"
	"testing"

	"github.com/zricethezav/gitleaks/v8/detect/codec"
)

// TestMayDecodeCoversTheDecoder: wherever gitleaks' own decoder finds a
// segment to decode, mayDecode says so (a false "no" would skip text in
// which gitleaks finds an encoded secret). Texts are random mixes of what
// the decoder looks for and of what looks like it.
func TestMayDecodeCoversTheDecoder(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	tokens := []func() string{
		func() string { return base64.StdEncoding.EncodeToString([]byte(word(r, 8+r.Intn(30)))) },
		func() string { return base64.RawURLEncoding.EncodeToString([]byte(word(r, 8+r.Intn(30)))) },
		func() string { return hex.EncodeToString([]byte(word(r, 16+r.Intn(20)))) },
		func() string { return strings.ToUpper(hex.EncodeToString([]byte(word(r, 16+r.Intn(20))))) },
		func() string { // a commit id, a checksum: hex that is no text
			b := make([]byte, 16+r.Intn(16))
			r.Read(b)
			return hex.EncodeToString(b)
		},
		func() string { return "deadbeef" },
		func() string { return url.QueryEscape("p@ss w/rd:" + word(r, 6)) },
		func() string { return `\u00` + hex.EncodeToString([]byte{byte(0x21 + r.Intn(90))}) },
		func() string {
			return "U+00" + strings.ToUpper(hex.EncodeToString([]byte{byte(0x21 + r.Intn(90))})) + " "
		},
		func() string { return "TestScannerHandlesLongIdentifiers_" + word(r, r.Intn(12)) },
		func() string { return "scanners/leaks/prefilter/" + word(r, r.Intn(20)) },
		func() string { return word(r, 1+r.Intn(40)) },
		func() string { return string(rune(0x20 + r.Intn(95))) },
		func() string { return "==" },
		func() string { return "\n" },
	}
	decoding, found := 0, 0
	for i := 0; i < 30000; i++ {
		var b strings.Builder
		for n := 1 + r.Intn(8); n > 0; n-- {
			b.WriteString(tokens[r.Intn(len(tokens))]())
		}
		text := b.String()
		_, segments := codec.NewDecoder().Decode(text, nil)
		may := mayDecode(text)
		if may {
			found++
		}
		if len(segments) > 0 {
			decoding++
			if !may {
				t.Fatalf("gitleaks decodes %d segments of %q; mayDecode says none", len(segments), text)
			}
		}
	}
	if decoding < 1000 || found == 30000 {
		t.Fatalf("not a test: %d of 30000 texts decode, mayDecode says yes to %d", decoding, found)
	}
}

// word is n random characters from a base64 run's alphabet.
func word(r *rand.Rand, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+/"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.Intn(len(alphabet))]
	}
	return string(b)
}
