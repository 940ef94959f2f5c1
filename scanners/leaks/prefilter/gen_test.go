package prefilter

import (
	"math/rand"
	"regexp/syntax"
	"strings"
	"unicode"
)

// generate writes a random string re matches (assertions aside: a caller
// keeps only what the rule's own regex matches). Classes and folds give
// runes outside ASCII now and then, as the rewrite must cover them.
func generate(r *rand.Rand, re *syntax.Regexp, b *strings.Builder) {
	switch re.Op {
	case syntax.OpLiteral:
		for _, c := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 {
				orbit := []rune{c}
				for f := unicode.SimpleFold(c); f != c; f = unicode.SimpleFold(f) {
					orbit = append(orbit, f)
				}
				c = orbit[r.Intn(len(orbit))]
			}
			b.WriteRune(c)
		}
	case syntax.OpCharClass:
		b.WriteRune(pick(r, re.Rune))
	case syntax.OpAnyCharNotNL:
		b.WriteRune(pick(r, []rune{0x20, 0x7e, 0xe9, 0xe9, 0x4e2d, 0x4e2d, 0x1f600, 0x1f600}))
	case syntax.OpAnyChar:
		b.WriteRune(pick(r, []rune{'\n', '\n', 0x20, 0x7e, 0x4e2d, 0x4e2d}))
	case syntax.OpCapture:
		generate(r, re.Sub[0], b)
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		lo, hi := 0, 3
		switch re.Op {
		case syntax.OpPlus:
			lo = 1
		case syntax.OpQuest:
			hi = 1
		case syntax.OpRepeat:
			lo, hi = re.Min, re.Max
			if hi < 0 || hi > lo+3 {
				hi = lo + 3
			}
		}
		for n := lo + r.Intn(hi-lo+1); n > 0; n-- {
			generate(r, re.Sub[0], b)
		}
	case syntax.OpConcat:
		for _, s := range re.Sub {
			generate(r, s, b)
		}
	case syntax.OpAlternate:
		generate(r, re.Sub[r.Intn(len(re.Sub))], b)
	}
}

// pick is a random rune from ranges, outside ASCII one time in four when
// the ranges allow it.
func pick(r *rand.Rand, ranges []rune) rune {
	var high []int
	for i := 0; i+1 < len(ranges); i += 2 {
		if ranges[i+1] >= 0x80 {
			high = append(high, i)
		}
	}
	i := 2 * r.Intn(len(ranges)/2)
	if len(high) > 0 && r.Intn(4) == 0 {
		i = high[r.Intn(len(high))]
	}
	lo, hi := ranges[i], ranges[i+1]
	if hi >= 0x80 && r.Intn(4) == 0 {
		lo = max(lo, 0x80)
	}
	c := lo + rune(r.Int63n(int64(hi-lo+1)))
	if c >= 0xd800 && c <= 0xdfff { // not encodable: a surrogate
		return lo
	}
	return c
}
