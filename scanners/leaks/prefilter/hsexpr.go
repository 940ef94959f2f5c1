package prefilter

import (
	"fmt"
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// hsExpr rewrites a gitleaks rule's regex (Go/RE2 syntax) as a Vectorscan
// expression that matches a superset of it, byte for byte, on any input
// (valid UTF-8 or not). The rewrite works on the parsed tree, so it never
// depends on how the two dialects spell a construct:
//
//   - Vectorscan runs in byte mode (its UTF-8 mode is undefined on invalid
//     UTF-8, and commits hold any bytes). Every rune outside ASCII, and every
//     invalid byte (Go and RE2 read one as U+FFFD), is a run of one or more
//     bytes from 0x80 to 0xFF. So a class that admits any rune outside ASCII
//     becomes a run of one or more bytes, each of its ASCII part or from
//     0x80 to 0xFF: a match of the rule maps rune by rune onto a match of
//     the rewrite.
//   - Case-insensitive literals keep their Unicode folds the same way (the
//     Kelvin sign is a "k", the long s an "s").
//   - Assertions (^, $, \A, \z, \b, \B) are dropped, long bounded repeats
//     lose their upper bound (maxRepeat), and what a match need not hold at
//     its ends is cut off (trim): each only makes the expression match more.
//
// Vectorscan's prefilter mode may widen the expression further; it never
// narrows it. So "no match of the rewrite" proves "no match of the rule".
func hsExpr(pattern string) (string, error) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := writeExpr(&b, trim(re)); err != nil {
		return "", err
	}
	return b.String(), nil
}

func writeExpr(b *strings.Builder, re *syntax.Regexp) error {
	switch re.Op {
	case syntax.OpNoMatch:
		// Nothing matches it; no gitleaks rule says so, and a rewrite that
		// refuses is safe (the filter then stays off).
		return fmt.Errorf("an expression that matches nothing")
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		b.WriteString("(?:)")
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			ranges := []rune{r, r}
			if re.Flags&syntax.FoldCase != 0 {
				ranges = foldRanges(r)
			}
			writeClass(b, ranges)
		}
	case syntax.OpCharClass:
		writeClass(b, re.Rune)
	case syntax.OpAnyCharNotNL:
		writeClass(b, []rune{0, '\n' - 1, '\n' + 1, unicode.MaxRune})
	case syntax.OpAnyChar:
		writeClass(b, []rune{0, unicode.MaxRune})
	case syntax.OpCapture:
		return writeGroup(b, re.Sub[0], "")
	case syntax.OpStar:
		return writeGroup(b, re.Sub[0], "*")
	case syntax.OpPlus:
		return writeGroup(b, re.Sub[0], "+")
	case syntax.OpQuest:
		return writeGroup(b, re.Sub[0], "?")
	case syntax.OpRepeat:
		// A long bounded repeat is costly for Vectorscan to compile and to
		// run, and a shorter or unbounded one matches more: {60} becomes
		// {32,}, {0,200} becomes {0,}.
		lo, hi := re.Min, re.Max
		if hi < 0 || hi > maxRepeat {
			lo, hi = min(lo, maxRepeat), -1
		}
		q := fmt.Sprintf("{%d,}", lo)
		if hi >= 0 {
			q = fmt.Sprintf("{%d,%d}", lo, hi)
		}
		return writeGroup(b, re.Sub[0], q)
	case syntax.OpConcat:
		b.WriteString("(?:")
		for _, s := range re.Sub {
			if err := writeExpr(b, s); err != nil {
				return err
			}
		}
		b.WriteString(")")
	case syntax.OpAlternate:
		b.WriteString("(?:")
		for i, s := range re.Sub {
			if i > 0 {
				b.WriteString("|")
			}
			if err := writeExpr(b, s); err != nil {
				return err
			}
		}
		b.WriteString(")")
	default:
		return fmt.Errorf("regex operator %v", re.Op)
	}
	return nil
}

// maxRepeat is the longest bounded repeat written as such; a longer one is
// shortened to its first maxRepeat and left unbounded. Over gitleaks'
// history (50,666 hunks), 8 let 10,110 hunks through to gitleaks and 32
// only 4,232, for a scan 20% slower (0.14 against 0.12 s); without the cap
// the rules took 2.4 s to compile (kubernetes-secret-yaml alone 1.5 s),
// with it 0.3-0.45 s.
const maxRepeat = 32

// trim drops what a match need not contain from the ends of the expression:
// an element that can match the empty string at its start or end (gitleaks'
// rules open with [\w.-]{0,50}? and close with (?:[\x60'"\s;]|\\[nr]|$)).
// What is left occurs in every match, so it matches wherever the whole does.
func trim(re *syntax.Regexp) *syntax.Regexp {
	switch re.Op {
	case syntax.OpCapture:
		return trim(re.Sub[0])
	case syntax.OpAlternate:
		c := *re
		c.Sub = make([]*syntax.Regexp, len(re.Sub))
		for i, s := range re.Sub {
			c.Sub[i] = trim(s)
		}
		return &c
	case syntax.OpConcat:
		subs := re.Sub
		for len(subs) > 1 && minLen(subs[0]) == 0 {
			subs = subs[1:]
		}
		for len(subs) > 1 && minLen(subs[len(subs)-1]) == 0 {
			subs = subs[:len(subs)-1]
		}
		if len(subs) == 1 {
			return trim(subs[0])
		}
		c := *re
		c.Sub = subs
		return &c
	}
	return re
}

// minLen is the fewest runes a match of re holds.
func minLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune)
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1
	case syntax.OpCapture, syntax.OpPlus:
		return minLen(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min * minLen(re.Sub[0])
	case syntax.OpConcat:
		n := 0
		for _, s := range re.Sub {
			n += minLen(s)
		}
		return n
	case syntax.OpAlternate:
		n := -1
		for _, s := range re.Sub {
			if m := minLen(s); n < 0 || m < n {
				n = m
			}
		}
		return max(n, 0)
	}
	return 0 // star, quest, assertions, empty
}

func writeGroup(b *strings.Builder, sub *syntax.Regexp, quantifier string) error {
	b.WriteString("(?:")
	if err := writeExpr(b, sub); err != nil {
		return err
	}
	b.WriteString(")")
	b.WriteString(quantifier)
	return nil
}

// foldRanges is r with every rune Unicode folds it to, as sorted ranges.
func foldRanges(r rune) []rune {
	rs := []rune{r}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		rs = append(rs, f)
	}
	var out []rune
	for _, x := range rs {
		out = append(out, x, x)
	}
	return out
}

// writeClass writes one "character" of the rule: a rune from ranges (pairs
// lo, hi), as one byte of the ranges' ASCII part or, when the ranges reach
// past ASCII, a run of bytes of 0x80 and above.
func writeClass(b *strings.Builder, ranges []rune) {
	var ascii []rune
	high := false
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		if hi >= utf8.RuneSelf {
			high = true
		}
		if lo < utf8.RuneSelf {
			ascii = append(ascii, lo, min(hi, utf8.RuneSelf-1))
		}
	}
	var class strings.Builder
	if len(ascii) > 0 {
		class.WriteString("[")
		for i := 0; i < len(ascii); i += 2 {
			fmt.Fprintf(&class, "\\x%02x", ascii[i])
			if ascii[i+1] != ascii[i] {
				fmt.Fprintf(&class, "-\\x%02x", ascii[i+1])
			}
		}
		class.WriteString("]")
	}
	if !high {
		b.WriteString(class.String())
		return
	}
	b.WriteString("[" + strings.TrimSuffix(strings.TrimPrefix(class.String(), "["), "]") + `\x80-\xff]+`)
}
