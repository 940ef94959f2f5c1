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
// more characters of [A-Za-z0-9_/+-] followed by up to two '=' (base64);
// of two matches that touch, the earlier kind in that list wins; it keeps a
// match only if it decodes to printable ASCII. Percent and unicode are not
// decoded here: their presence alone says "may decode". Without them, every
// match lies in a run of base64 characters (hex digits are among them), and
// in each run the decoder takes the run's leading hex digits if there are
// 32 or more (the rest of the run, touching them, loses to them), else the
// whole run if it is 16 or longer.
func mayDecode(t string) bool {
	// %XX anywhere.
	if anyAfter(t, '%', func(i int) bool { return i+2 < len(t) && isHex[t[i+1]] && isHex[t[i+2]] }) {
		return true
	}
	// \uXXXX or \UXXXX anywhere.
	if anyAfter(t, '\\', func(i int) bool { return i+1 < len(t) && (t[i+1] == 'u' || t[i+1] == 'U') && hex4(t, i+2) }) {
		return true
	}
	// U+XXXX (and u+XXXX) anywhere.
	if anyAfter(t, '+', func(i int) bool { return i > 0 && (t[i-1] == 'U' || t[i-1] == 'u') && hex4(t, i+1) }) {
		return true
	}
	for i := 0; i < len(t); {
		for i < len(t) && !isRun[t[i]] {
			i++
		}
		start := i
		for i < len(t) && isRun[t[i]] {
			i++
		}
		if i-start < 16 {
			continue
		}
		h := start
		for h < i && isHex[t[h]] {
			h++
		}
		if h-start >= 32 {
			if decodesHex(t[start:h]) {
				return true
			}
		} else if decodesBase64Run(t, start, i) {
			return true
		}
	}
	return false
}

// anyAfter is whether at(i) holds at some occurrence i of c in t (found
// with strings.IndexByte: most text has few of them).
func anyAfter(t string, c byte, at func(i int) bool) bool {
	for off := 0; ; {
		j := strings.IndexByte(t[off:], c)
		if j < 0 {
			return false
		}
		if at(off + j) {
			return true
		}
		off += j + 1
	}
}

// decodesHex is whether codec's decodeHex returns a value for s (hex
// digits): an even number of them, a decimal digit among them, and every
// byte they spell printable.
func decodesHex(s string) bool {
	if len(s)%2 != 0 || strings.IndexAny(s, "0123456789") < 0 {
		return false
	}
	for i := 0; i < len(s); i += 2 {
		if b := unhex(s[i])<<4 | unhex(s[i+1]); b <= '\x08' || b >= '\x7f' {
			return false
		}
	}
	return true
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// isRun marks the characters of a base64 match ([A-Za-z0-9_/+-]), isHex
// the hex digits.
var isRun, isHex = func() (run, hex [256]bool) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		run[c] = '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || b == '_' || b == '/' || b == '+' || b == '-'
		hex[c] = '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F'
	}
	return run, hex
}()

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
	return isHex[t[i]] && isHex[t[i+1]] && isHex[t[i+2]] && isHex[t[i+3]]
}
