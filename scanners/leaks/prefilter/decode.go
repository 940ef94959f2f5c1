package prefilter

import (
	"encoding/base64"
	"strings"
	"unsafe"
)

// mayDecode reports whether gitleaks' decoder (detect/codec) could find an
// encoded segment in t; false proves that it finds none, so that gitleaks
// scans t once, undecoded. The decoder looks for, leftmost first: %XX
// (percent), U+XXXX or \uXXXX (unicode), 32 or more hex digits, and 16 or
// more characters of [A-Za-z0-9_/+-] followed by up to two '=' (base64),
// and keeps a match only if it decodes to printable ASCII. If none of the
// first three occurs anywhere, every match is base64 and starts where a run
// of those characters starts (nothing else can end inside a run), so a
// segment exists only if a whole run of 16 or more decodes. The first three
// are not decoded here: their presence alone says "may decode".
func mayDecode(t string) bool {
	hexRun, b64Start := 0, -1
	for i := 0; i < len(t); i++ {
		c := t[i]
		k := byteClass[c]
		if k == 0 {
			if b64Start >= 0 && i-b64Start >= 16 && decodesBase64Run(t, b64Start, i) {
				return true
			}
			hexRun, b64Start = 0, -1
			if c == '%' && i+2 < len(t) && byteClass[t[i+1]]&classHex != 0 && byteClass[t[i+2]]&classHex != 0 {
				return true
			}
			continue
		}
		if b64Start < 0 {
			b64Start = i
		}
		if k&classHex != 0 {
			if hexRun++; hexRun >= 32 {
				return true
			}
		} else {
			hexRun = 0
		}
		// U+XXXX, u+XXXX (more than the decoder takes), \uXXXX, \UXXXX.
		if k&classEscape != 0 && i > 0 && hex4(t, i+1) {
			if p := t[i-1]; (c == '+' && (p == 'U' || p == 'u')) || (c != '+' && p == '\\') {
				return true
			}
		}
	}
	return b64Start >= 0 && len(t)-b64Start >= 16 && decodesBase64Run(t, b64Start, len(t))
}

// byteClass marks the bytes mayDecode looks at: those of a base64 run, hex
// digits among them, and the second byte of U+XXXX and \uXXXX.
var byteClass = func() (cl [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		if '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || b == '_' || b == '/' || b == '+' || b == '-' {
			cl[c] |= classB64
		}
		if '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F' {
			cl[c] |= classHex
		}
		if b == '+' || b == 'u' || b == 'U' {
			cl[c] |= classEscape
		}
	}
	return cl
}()

const (
	classB64 = 1 << iota
	classHex
	classEscape
)

// decodesBase64Run is whether the base64 match of the run t[i:j] (with up
// to two '=' after it) decodes.
func decodesBase64Run(t string, i, j int) bool {
	k := j
	for k < len(t) && k < j+2 && t[k] == '=' {
		k++
	}
	return decodesBase64(t[i:k])
}

// decodesBase64 is whether codec's decodeBase64 returns a value for s: only
// a run with a digit or one of +/-_ is tried, as standard then raw URL
// base64, and kept if it decodes to printable ASCII.
func decodesBase64(s string) bool {
	likely := false
	for i := 0; i < len(s) && !likely; i++ {
		likely = strings.IndexByte("0123456789+/-_", s[i]) >= 0
	}
	if !likely {
		return false
	}
	return decodesPrintable(base64.StdEncoding, s) || decodesPrintable(base64.RawURLEncoding, s)
}

// decodesPrintable is whether enc decodes s, whole, to printable ASCII. It
// decodes four characters at a time (base64 is decoded quantum by quantum,
// so the bytes are those of decoding s at once) and stops at the first
// quantum that fails or is not printable: most runs of identifier
// characters are not base64 of text, and say so in their first bytes.
func decodesPrintable(enc *base64.Encoding, s string) bool {
	var out [3]byte
	for i := 0; i < len(s); i += 4 {
		q := s[i:min(i+4, len(s))]
		n, err := enc.Decode(out[:], unsafe.Slice(unsafe.StringData(q), len(q)))
		if err != nil || !printable(out[:n]) {
			return false
		}
	}
	return true
}

// printable is codec's printable ASCII: tab to '~'.
func printable(b []byte) bool {
	for _, c := range b {
		if c <= '\x08' || c >= '\x7f' {
			return false
		}
	}
	return true
}

func hex4(t string, i int) bool {
	if i+4 > len(t) {
		return false
	}
	return byteClass[t[i]]&byteClass[t[i+1]]&byteClass[t[i+2]]&byteClass[t[i+3]]&classHex != 0
}
