package policy

// Coverage: whether one statement grants at least what another grants, the
// question IAM drift asks of every live grant against the declared ones.
// Patterns compare as globs: actions ignore case, ARNs don't.

// Has reports whether l holds s exactly.
func Has(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// side is one side of a statement: its actions or its resources, given as a
// list (Action) or as a complement (NotAction), with that side's glob
// comparisons.
type side struct {
	in, not           List
	contains, overlap func(a, b string) bool
}

func actions(st Statement) side {
	return side{st.Action, st.NotAction, ActionContains, ActionOverlaps}
}

func resources(st Statement) side {
	return side{st.Resource, st.NotResource, Contains, Overlaps}
}

// covers: does the side match every string that p matches?
func (s side) covers(p string) bool {
	if len(s.in) > 0 {
		for _, x := range s.in {
			if s.contains(x, p) {
				return true
			}
		}
		return false
	}
	for _, x := range s.not {
		if s.overlap(x, p) {
			return false
		}
	}
	return true
}

// overlaps: does the side match some string that p matches? For a
// complement, it does unless one excluded pattern covers all of p.
func (s side) overlaps(p string) bool {
	if len(s.in) == 0 {
		for _, x := range s.not {
			if s.contains(x, p) {
				return false
			}
		}
		return true
	}
	for _, x := range s.in {
		if s.overlap(x, p) {
			return true
		}
	}
	return false
}

// CoversAction reports whether st's actions match every action act matches.
func CoversAction(st Statement, act string) bool { return actions(st).covers(act) }

// CoversResource reports whether st's resources match every ARN res matches.
func CoversResource(st Statement, res string) bool { return resources(st).covers(res) }

// OverlapsAction reports whether st's actions match some action act matches.
func OverlapsAction(st Statement, act string) bool { return actions(st).overlaps(act) }

// OverlapsResource reports whether st's resources match some ARN res matches.
func OverlapsResource(st Statement, res string) bool { return resources(st).overlaps(res) }

// ConditionsImplied reports whether a grant limited by inner conditions is
// at most as broad as one limited by outer: every condition of outer is
// also in inner, with no value inner allows that outer does not.
func ConditionsImplied(outer, inner map[string]map[string]List) bool {
	for op, keys := range outer {
		for k, vals := range keys {
			iv, ok := inner[op][k]
			if !ok {
				return false
			}
			for _, v := range iv {
				if !Has(vals, v) {
					return false
				}
			}
		}
	}
	return true
}

// Pairs expands a statement into (action, resource) patterns. A NotAction or
// NotResource statement stands for "*" less the exclusions; the exclusions
// travel along in the statement so coverage can take them into account.
func Pairs(st Statement) (acts, ress []string) {
	acts, ress = st.Action, st.Resource
	if len(st.NotAction) > 0 {
		acts = []string{"*"}
	}
	if len(st.NotResource) > 0 {
		ress = []string{"*"}
	}
	return acts, ress
}

// complementCovered handles a live NotAction/NotResource statement: the
// live grant is "everything but X", covered by a declared "everything but Y"
// when every y is inside some x.
func complementCovered(live, decl List, contain func(string, string) bool) bool {
	for _, y := range decl {
		ok := false
		for _, x := range live {
			ok = ok || contain(x, y)
		}
		if !ok {
			return false
		}
	}
	return true
}

// Covers reports whether declared statement d grants the pair (act, res)
// of live statement l at least as broadly as l does, conditions included.
func Covers(d, l Statement, act, res string) bool {
	if len(l.NotAction) > 0 {
		if len(d.NotAction) == 0 || !complementCovered(l.NotAction, d.NotAction, ActionContains) {
			if !CoversAction(d, "*") {
				return false
			}
		}
	} else if !CoversAction(d, act) {
		return false
	}
	if len(l.NotResource) > 0 {
		if len(d.NotResource) == 0 || !complementCovered(l.NotResource, d.NotResource, Contains) {
			if !CoversResource(d, "*") {
				return false
			}
		}
	} else if !CoversResource(d, res) {
		return false
	}
	return ConditionsImplied(d.Condition, l.Condition)
}
