package iam

import (
	"fmt"

	"github.com/vigilsec/vigil/internal/policy"
)

// limits are what caps a principal beyond its own policies: its permissions
// boundary and the SCPs of its account. The effective permissions are the
// identity policies ∩ boundary ∩ every SCP level; a Deny in any of them wins.
type limits struct {
	boundary *Attached
	scps     []SCPLevel
}

// capped is one policy set that limits: the boundary, or one SCP level.
type capped struct {
	name  string // "permissions boundary X", "SCP Y (attached to ou-...)"
	stmts []grant
}

func (l limits) sets() []capped {
	var out []capped
	if b := l.boundary; b != nil && b.Err == nil {
		c := capped{name: "permissions boundary " + b.Name}
		if b.Doc == nil { // AdministratorAccess, which GetAccountAuthorizationDetails may leave out
			c.stmts = []grant{{stmt: policy.Statement{Effect: "Allow", Action: policy.List{"*"}, Resource: policy.List{"*"}}, policy: *b}}
		}
		if b.Doc != nil {
			for i, st := range b.Doc.Statement {
				c.stmts = append(c.stmts, grant{stmt: st, index: i, policy: *b})
			}
		}
		out = append(out, c)
	}
	for _, lvl := range l.scps {
		c := capped{name: "the SCPs attached to " + lvl.Target}
		for _, a := range lvl.Policies {
			if a.Err != nil || a.Doc == nil {
				continue // reported by the scanner; an unreadable SCP limits nothing vigil can prove
			}
			for i, st := range a.Doc.Statement {
				c.stmts = append(c.stmts, grant{stmt: st, index: i, policy: a})
			}
		}
		out = append(out, c)
	}
	return out
}

// refuses names what would refuse some request of the declared pair (act,
// res) with declared conditions cond: a Deny that overlaps it, or a level
// whose Allows do not cover all of it. "" when nothing does.
func (l limits) refuses(act, res string, cond map[string]map[string]policy.List) string {
	for _, c := range l.sets() {
		allowed := false
		for _, g := range c.stmts {
			if g.stmt.Effect == "Deny" && policy.OverlapsAction(g.stmt, act) && policy.OverlapsResource(g.stmt, res) {
				return fmt.Sprintf("%s (%s, statement %d, denies it)", c.name, g.policy.Name, g.index)
			}
			if g.stmt.Effect == "Allow" && policy.CoversAction(g.stmt, act) && policy.CoversResource(g.stmt, res) &&
				policy.ConditionsImplied(g.stmt.Condition, cond) {
				allowed = true
			}
		}
		if !allowed {
			return c.name + " (allows none or only part of it)"
		}
	}
	return ""
}

// blocks reports whether nothing of the live pair (act, res) gets through:
// an unconditional Deny covers it, or a level allows no part of it. A grant
// blocked this way is not effective, so it is not excess.
func (l limits) blocks(act, res string) bool {
	for _, c := range l.sets() {
		overlap := false
		for _, g := range c.stmts {
			if g.stmt.Effect == "Deny" && len(g.stmt.Condition) == 0 && policy.CoversAction(g.stmt, act) && policy.CoversResource(g.stmt, res) {
				return true
			}
			if g.stmt.Effect == "Allow" && policy.OverlapsAction(g.stmt, act) && policy.OverlapsResource(g.stmt, res) {
				overlap = true
			}
		}
		if !overlap {
			return true
		}
	}
	return false
}
