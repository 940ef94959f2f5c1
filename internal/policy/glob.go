// Package policy parses IAM policy documents and decides, for IAM's glob
// patterns (`*` any run of characters, `?` exactly one), whether one pattern
// covers another. Actions compare case-insensitively, resources (ARNs)
// case-sensitively, as IAM itself does.
package policy

import (
	"sort"
	"strings"
	"sync"
)

// A pattern is an NFA whose states are positions 0..len(p): state i has
// matched p[:i]. `*` loops on any character and may be skipped; `?` takes one
// character; a literal takes itself.
type glob []rune

// closure adds the states reachable by skipping stars.
func (g glob) closure(states []int) []int {
	seen := map[int]bool{}
	var out []int
	for _, s := range states {
		for ; ; s++ {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
			if s >= len(g) || g[s] != '*' {
				break
			}
		}
	}
	sort.Ints(out)
	return out
}

// step returns the states after reading c from state s (before closure).
func (g glob) step(s int, c rune) []int {
	if s >= len(g) {
		return nil
	}
	switch g[s] {
	case '*':
		return []int{s}
	case '?':
		return []int{s + 1}
	}
	if g[s] == c {
		return []int{s + 1}
	}
	return nil
}

func (g glob) stepSet(states []int, c rune) []int {
	var next []int
	for _, s := range states {
		next = append(next, g.step(s, c)...)
	}
	return g.closure(next)
}

func (g glob) accepts(states []int) bool {
	for _, s := range states {
		if s == len(g) {
			return true
		}
	}
	return false
}

// alphabet is the literals of both patterns plus one character neither uses,
// which stands for every other character: the patterns can't tell those apart.
func alphabet(a, b glob) []rune {
	set := map[rune]bool{}
	for _, p := range []glob{a, b} {
		for _, c := range p {
			if c != '*' && c != '?' {
				set[c] = true
			}
		}
	}
	out := make([]rune, 0, len(set)+1)
	for c := range set {
		out = append(out, c)
	}
	other := rune(0xE000) // private use: never in an action or an ARN
	for set[other] {
		other++
	}
	return append(out, other)
}

func key(states []int) string {
	var b strings.Builder
	for _, s := range states {
		b.WriteRune(rune(s + 1))
	}
	return b.String()
}

// contains decides L(inner) ⊆ L(outer): no string reaches an accepting inner
// state while the (determinised) outer automaton rejects it.
func contains(outer, inner glob) bool {
	sigma := alphabet(outer, inner)
	type node struct{ in, out []int }
	start := node{inner.closure([]int{0}), outer.closure([]int{0})}
	seen := map[string]bool{key(start.in) + "|" + key(start.out): true}
	queue := []node{start}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if inner.accepts(n.in) && !outer.accepts(n.out) {
			return false
		}
		for _, c := range sigma {
			in := inner.stepSet(n.in, c)
			if len(in) == 0 {
				continue
			}
			next := node{in, outer.stepSet(n.out, c)}
			k := key(next.in) + "|" + key(next.out)
			if !seen[k] {
				seen[k] = true
				queue = append(queue, next)
			}
		}
	}
	return true
}

// overlaps decides whether L(a) ∩ L(b) is not empty.
func overlaps(a, b glob) bool {
	sigma := alphabet(a, b)
	type node struct{ x, y []int }
	start := node{a.closure([]int{0}), b.closure([]int{0})}
	seen := map[string]bool{key(start.x) + "|" + key(start.y): true}
	queue := []node{start}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if a.accepts(n.x) && b.accepts(n.y) {
			return true
		}
		for _, c := range sigma {
			next := node{a.stepSet(n.x, c), b.stepSet(n.y, c)}
			if len(next.x) == 0 || len(next.y) == 0 {
				continue
			}
			k := key(next.x) + "|" + key(next.y)
			if !seen[k] {
				seen[k] = true
				queue = append(queue, next)
			}
		}
	}
	return false
}

// Drift analysis asks the same questions many times (every live statement
// against every declared one), so answers are memoised for the process.
var memo sync.Map // [3]string{op, a, b} -> bool

func cached(op, a, b string, f func(glob, glob) bool) bool {
	k := [3]string{op, a, b}
	if v, ok := memo.Load(k); ok {
		return v.(bool)
	}
	v := f(glob(a), glob(b))
	memo.Store(k, v)
	return v
}

// Contains reports whether every string matched by inner is matched by outer.
// It is exact for patterns of literals, `*` and `?` (the fuzz test checks it
// against enumeration).
func Contains(outer, inner string) bool {
	if outer == inner || outer == "*" {
		return true
	}
	return cached("c", outer, inner, contains)
}

// Overlaps reports whether some string is matched by both patterns.
func Overlaps(a, b string) bool {
	if a == b || a == "*" || b == "*" {
		return true
	}
	if a > b {
		a, b = b, a // symmetric: one memo entry
	}
	return cached("o", a, b, overlaps)
}

// Match reports whether pattern matches s, s being a plain string.
func Match(pattern, s string) bool {
	g := glob(pattern)
	states := g.closure([]int{0})
	for _, c := range s {
		if states = g.stepSet(states, c); len(states) == 0 {
			return false
		}
	}
	return g.accepts(states)
}

// ActionContains is Contains for actions: "s3:Get*" covers "S3:GetObject".
func ActionContains(outer, inner string) bool {
	return Contains(strings.ToLower(outer), strings.ToLower(inner))
}

// ActionOverlaps is Overlaps for actions.
func ActionOverlaps(a, b string) bool { return Overlaps(strings.ToLower(a), strings.ToLower(b)) }
