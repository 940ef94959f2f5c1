package iam

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/policy"
	"github.com/vigilsec/vigil/rules"
)

// Analyzer turns a live graph and the declarations into findings.
type Analyzer struct {
	Identities []rules.Identity
	Controls   rules.Controls
	// Ignore lists principal names (globs) that are nobody's job identity
	// and are not reported as undeclared (break-glass roles, SSO roles).
	Ignore []string
	Now    time.Time
	// Known are the organisation's account ids (the accounts vigil reads
	// and the declared ones): a role trusting one of them is not trusting
	// a third party.
	Known []string
	// Templates are GitHub organisations' customised OIDC subject claim
	// keys (lower-case owner → include_claim_keys).
	Templates map[string][]string
	// Consumers are the declared inventory's consumers (identity names)
	// by secret path ("awssm:prod/db/password"); a secret that is a key
	// here is declared, even with no consumer.
	Consumers map[string][]string
	// HashKeyID is the keyed hash that leak findings carry, applied to
	// access key ids to find them in CI variables; nil: not matched.
	HashKeyID func(string) string

	// index finds declarations by ARN or kind/name without a scan per
	// principal (10,000 roles against 10,000 declarations).
	index map[string]*rules.Identity
}

// grant is one live or declared statement, with where it comes from.
type grant struct {
	stmt   policy.Statement
	index  int
	policy Attached // live only
}

// Analyze returns the findings for one account's graph.
func (a *Analyzer) Analyze(g *Graph) []finding.Finding {
	var out []finding.Finding
	for i := range g.Principals {
		out = append(out, a.principal(g, &g.Principals[i])...)
	}
	out = append(out, a.secrets(g)...)
	return out
}

func (a *Analyzer) declared(account string, p *Principal) *rules.Identity {
	if a.index == nil {
		a.index = map[string]*rules.Identity{}
		for i := range a.Identities {
			id := &a.Identities[i]
			k := "name:" + id.Account + ":" + id.Kind + "/" + id.Name
			if id.ARN != "" {
				k = "arn:" + id.ARN
			}
			if _, dup := a.index[k]; !dup {
				a.index[k] = id
			}
		}
	}
	if id := a.index["arn:"+p.ARN]; id != nil {
		return id
	}
	if id := a.index["name:"+account+":"+p.Kind+"/"+p.Name]; id != nil {
		return id
	}
	return a.index["name::"+p.Kind+"/"+p.Name] // declared for every account
}

func (a *Analyzer) ignored(p *Principal) bool {
	// Service-linked roles belong to AWS services, not to jobs.
	if strings.HasPrefix(p.Path, "/aws-service-role/") || strings.HasPrefix(p.Path, "/aws-reserved/") {
		return true
	}
	return rules.MatchAny(a.Ignore, p.Name)
}

func (a *Analyzer) mk(kind finding.Kind, sev finding.Severity, p *Principal, title, detail string, ev finding.Evidence, idParts ...string) finding.Finding {
	ev["principal"] = p.ARN
	return a.newFinding(kind, sev, p.ARN, title, detail, ev, idParts...)
}

// newFinding is a finding about resource, identified by it and idParts.
func (a *Analyzer) newFinding(kind finding.Kind, sev finding.Severity, resource, title, detail string, ev finding.Evidence, idParts ...string) finding.Finding {
	return finding.Finding{
		ID:       finding.Fingerprint(kind, append([]string{resource}, idParts...)...),
		Kind:     kind,
		Severity: sev,
		Scanner:  "iam",
		Resource: resource,
		Title:    title,
		Detail:   detail,
		Status:   finding.StatusOpen,
		Evidence: ev,
		Controls: a.Controls.For(kind),
	}
}

func (a *Analyzer) principal(g *Graph, p *Principal) []finding.Finding {
	var out []finding.Finding
	id := a.declared(g.Account, p)
	lim := limits{boundary: p.Boundary, scps: g.SCPs}
	if b := p.Boundary; b != nil && b.Err != nil {
		out = append(out, a.mk(finding.KindIAMUnparsablePolicy, finding.Medium, p,
			fmt.Sprintf("permissions boundary %s of %s %s can't be analysed", b.Name, p.Kind, p.Name),
			"vigil could not parse this boundary, so what it takes away is unverified: "+b.Err.Error(),
			finding.Evidence{"policy": b.ID, "via": "boundary", "error": b.Err.Error()}, b.ID))
	}
	if id == nil && !a.ignored(p) {
		out = append(out, a.mk(finding.KindIAMUndeclaredPrincipal, finding.Medium, p,
			fmt.Sprintf("%s %s is not declared", p.Kind, p.Name),
			"No declared identity matches this principal, so nobody has said what it needs. Declare it (rules: identities) or delete it.",
			finding.Evidence{"kind": p.Kind, "policies": len(p.Policies)}))
	}
	var live, liveDeny []grant
	for _, pol := range p.Policies {
		if pol.ID == AdministratorAccess {
			out = append(out, a.mk(finding.KindIAMAdmin, finding.Critical, p,
				fmt.Sprintf("%s %s has AdministratorAccess", p.Kind, p.Name),
				"The AWS managed AdministratorAccess policy grants every action on every resource.",
				finding.Evidence{"policy": pol.ID, "via": pol.Via}, pol.ID))
			pol.Doc = &policy.Document{Statement: policy.Statements{{Effect: "Allow", Action: policy.List{"*"}, Resource: policy.List{"*"}}}}
			pol.Err = nil
		}
		if pol.Err != nil {
			out = append(out, a.mk(finding.KindIAMUnparsablePolicy, finding.Medium, p,
				fmt.Sprintf("policy %s of %s %s can't be analysed", pol.Name, p.Kind, p.Name),
				"vigil could not parse this live policy, so the grants it makes are unverified: "+pol.Err.Error(),
				finding.Evidence{"policy": pol.ID, "via": pol.Via, "error": pol.Err.Error()}, pol.ID))
			continue
		}
		for i, st := range pol.Doc.Statement {
			g := grant{stmt: st, index: i, policy: pol}
			if st.Effect == "Deny" {
				liveDeny = append(liveDeny, g)
				continue
			}
			live = append(live, g)
			out = append(out, a.broad(p, g, lim)...)
		}
	}
	out = append(out, a.keys(p, id)...)
	out = append(out, a.trust(g, p, id, live)...)
	if id == nil {
		return out
	}
	var decl, declDeny []grant
	if id.Policy != nil {
		for i, st := range id.Policy.Statement {
			if st.Effect == "Deny" {
				declDeny = append(declDeny, grant{stmt: st, index: i})
			} else {
				decl = append(decl, grant{stmt: st, index: i})
			}
		}
	}
	out = append(out, a.excess(p, id, lim, live, liveDeny, decl, declDeny)...)
	out = append(out, a.missing(p, id, lim, live, liveDeny, decl)...)
	return out
}

// broad reports admin-equivalent and service-wide wildcard grants, whatever
// was declared.
func (a *Analyzer) broad(p *Principal, g grant, lim limits) []finding.Finding {
	st := g.stmt
	anyRes := len(st.NotResource) > 0 || policy.Has(st.Resource, "*")
	if !anyRes {
		return nil
	}
	where := fmt.Sprintf("statement %d of %s", g.index, g.policy.Name)
	ev := func() finding.Evidence {
		return finding.Evidence{"policy": g.policy.ID, "via": g.policy.Via, "statement": st.JSON(), "statement_index": g.index}
	}
	if len(st.Condition) == 0 && (policy.Has(st.Action, "*") || len(st.NotAction) > 0) {
		if g.policy.ID == AdministratorAccess {
			return nil // reported once for the attachment
		}
		what := "Action \"*\""
		if len(st.NotAction) > 0 {
			what = "NotAction " + strings.Join(st.NotAction, ",")
		}
		return []finding.Finding{a.mk(finding.KindIAMAdmin, finding.Critical, p,
			fmt.Sprintf("%s %s can do almost anything (%s on every resource)", p.Kind, p.Name, what),
			"An Allow of every action (or every action but a few) on every resource is administrator access: "+where+".",
			ev(), g.policy.ID, fmt.Sprint(g.index))}
	}
	var out []finding.Finding
	for _, act := range st.Action {
		if lim.blocks(act, "*") {
			continue // a boundary or an SCP takes all of it away
		}
		if act == "*" || strings.HasSuffix(act, ":*") {
			e := ev()
			e["action"] = act
			out = append(out, a.mk(finding.KindIAMWildcard, finding.High, p,
				fmt.Sprintf("%s %s is granted %s on every resource", p.Kind, p.Name, act),
				"A service-wide wildcard on Resource \"*\" ("+where+") grants every present and future action of the service.",
				e, g.policy.ID, fmt.Sprint(g.index), strings.ToLower(act)))
		}
	}
	return out
}

// deniedFully: an unconditional Deny that covers the whole pair takes the
// grant away, so it is not excess.
func deniedFully(denies []grant, act, res string) bool {
	for _, d := range denies {
		if len(d.stmt.Condition) == 0 && policy.CoversAction(d.stmt, act) && policy.CoversResource(d.stmt, res) {
			return true
		}
	}
	return false
}

func (a *Analyzer) excess(p *Principal, id *rules.Identity, lim limits, live, liveDeny, decl, declDeny []grant) []finding.Finding {
	var out []finding.Finding
	suggested := ""
	for _, l := range live {
		acts, ress := policy.Pairs(l.stmt)
		for _, act := range acts {
			var uncovered []string
			reason := ""
			for _, res := range ress {
				if deniedFully(liveDeny, act, res) || lim.blocks(act, res) {
					continue
				}
				ok := false
				for _, d := range decl {
					if policy.Covers(d.stmt, l.stmt, act, res) {
						ok = true
						break
					}
				}
				for _, d := range declDeny {
					if policy.OverlapsAction(d.stmt, act) && policy.OverlapsResource(d.stmt, res) {
						ok, reason = false, "it overlaps a declared Deny"
					}
				}
				if !ok {
					uncovered = append(uncovered, res)
				}
			}
			if len(uncovered) == 0 {
				continue
			}
			if suggested == "" {
				suggested = a.suggest(live, liveDeny, decl)
			}
			why := reason
			if why == "" {
				why = "no declared grant covers it"
				if len(l.stmt.Condition) == 0 && anyConditional(decl) {
					why += " (a declared grant with the same reach carries conditions this one lacks)"
				}
			}
			ev := finding.Evidence{
				"policy": l.policy.ID, "via": l.policy.Via, "statement": l.stmt.JSON(), "statement_index": l.index,
				"uncovered_action": act, "uncovered_resources": uncovered, "declared_policy": id.PolicyName,
				"suggested_policy": suggested,
			}
			sort.Strings(uncovered)
			out = append(out, a.mk(finding.KindIAMExcessGrant, finding.High, p,
				fmt.Sprintf("%s %s is granted %s on %s beyond its declaration", p.Kind, p.Name, act, strings.Join(uncovered, ", ")),
				fmt.Sprintf("Statement %d of %s allows %s on %s, but %s in %s. Narrow it to the suggested policy.",
					l.index, l.policy.Name, act, strings.Join(uncovered, ", "), why, id.PolicyName),
				ev, l.policy.ID, fmt.Sprint(l.index), strings.ToLower(act), strings.Join(uncovered, ",")))
		}
	}
	return out
}

func anyConditional(gs []grant) bool {
	for _, g := range gs {
		if len(g.stmt.Condition) > 0 {
			return true
		}
	}
	return false
}

// granted: does the live set allow every request the declared pair stands
// for? A live Deny that overlaps it, or a live condition the declaration
// does not carry, may refuse some of them.
func granted(live, liveDeny []grant, d policy.Statement, act, res string) bool {
	for _, dn := range liveDeny {
		if policy.OverlapsAction(dn.stmt, act) && policy.OverlapsResource(dn.stmt, res) {
			return false
		}
	}
	for _, l := range live {
		if policy.CoversAction(l.stmt, act) && policy.CoversResource(l.stmt, res) && policy.ConditionsImplied(l.stmt.Condition, d.Condition) {
			return true
		}
	}
	return false
}

func (a *Analyzer) missing(p *Principal, id *rules.Identity, lim limits, live, liveDeny, decl []grant) []finding.Finding {
	var out []finding.Finding
	for _, d := range decl {
		if len(d.stmt.NotAction) > 0 || len(d.stmt.NotResource) > 0 {
			continue // "everything but" is a ceiling, not a need
		}
		for _, act := range d.stmt.Action {
			var lacking []string
			for _, res := range d.stmt.Resource {
				if !granted(live, liveDeny, d.stmt, act, res) {
					lacking = append(lacking, res)
					continue
				}
				// Granted by the identity's policies, but a boundary or an
				// SCP takes it away: name which, since that is where the
				// fix goes.
				if by := lim.refuses(act, res, d.stmt.Condition); by != "" {
					out = append(out, a.mk(finding.KindIAMMissingGrant, finding.Medium, p,
						fmt.Sprintf("%s %s would be denied %s on %s by %s", p.Kind, p.Name, act, res, by),
						fmt.Sprintf("%s declares that the job needs %s on %s. Its own policies grant it, but %s, so the request fails.",
							id.PolicyName, act, res, by),
						finding.Evidence{"declared_policy": id.PolicyName, "declared_statement": d.stmt.JSON(), "action": act,
							"resources": []string{res}, "denied_by": by},
						id.PolicyName, fmt.Sprint(d.index), strings.ToLower(act), res, "limit"))
				}
			}
			if len(lacking) == 0 {
				continue
			}
			out = append(out, a.mk(finding.KindIAMMissingGrant, finding.Medium, p,
				fmt.Sprintf("%s %s would be denied %s on %s", p.Kind, p.Name, act, strings.Join(lacking, ", ")),
				fmt.Sprintf("%s declares that the job needs %s on %s, and no live policy grants all of it (or a live Deny or condition takes part of it away).",
					id.PolicyName, act, strings.Join(lacking, ", ")),
				finding.Evidence{"declared_policy": id.PolicyName, "declared_statement": d.stmt.JSON(), "action": act, "resources": lacking},
				id.PolicyName, fmt.Sprint(d.index), strings.ToLower(act), strings.Join(lacking, ",")))
		}
	}
	return out
}

// suggest returns the narrowed policy: the live grants intersected with the
// declared ones. For each declared pair the live set grants, the narrower of
// the two is kept; pairs the live set does not grant stay out (adding them is
// a separate, reviewed change: see iam.missing_grant).
func (a *Analyzer) suggest(live, liveDeny []grant, decl []grant) string {
	doc := policy.Document{Version: "2012-10-17"}
	for _, d := range decl {
		if len(d.stmt.NotAction) > 0 || len(d.stmt.NotResource) > 0 {
			continue
		}
		var acts policy.List
		for _, act := range d.stmt.Action {
			all := true
			for _, res := range d.stmt.Resource {
				all = all && granted(live, liveDeny, d.stmt, act, res)
			}
			if all {
				acts = append(acts, act)
			}
		}
		if len(acts) > 0 {
			doc.Statement = append(doc.Statement, policy.Statement{Sid: d.stmt.Sid, Effect: "Allow", Action: acts, Resource: d.stmt.Resource, Condition: d.stmt.Condition})
		}
		// Live grants narrower than the declaration are kept as they are.
		for _, l := range live {
			la, lr := policy.Pairs(l.stmt)
			for _, act := range la {
				for _, res := range lr {
					if len(l.stmt.NotAction) == 0 && len(l.stmt.NotResource) == 0 &&
						policy.CoversAction(d.stmt, act) && policy.CoversResource(d.stmt, res) && !policy.Has(acts, act) {
						doc.Statement = append(doc.Statement, policy.Statement{Effect: "Allow", Action: policy.List{act}, Resource: policy.List{res}, Condition: l.stmt.Condition})
					}
				}
			}
		}
	}
	b, _ := json.Marshal(doc)
	return string(b)
}

func (a *Analyzer) keys(p *Principal, id *rules.Identity) []finding.Finding {
	rot, unused := rules.DefaultRotationDays, rules.DefaultUnusedDays
	if id != nil {
		rot, unused = id.RotationDays, id.UnusedDays
	}
	var out []finding.Finding
	for _, k := range p.Keys {
		if !k.Active {
			continue
		}
		age := int(a.Now.Sub(k.Created).Hours() / 24)
		if age > rot {
			out = append(out, a.mk(finding.KindIAMOldKey, finding.High, p,
				fmt.Sprintf("access key %s of %s is %d days old", k.ID, p.Name, age),
				fmt.Sprintf("The key was created %s; the rotation limit is %d days. Rotate it.", k.Created.UTC().Format("2006-01-02"), rot),
				finding.Evidence{"access_key_id": k.ID, "created": k.Created.UTC().Format(time.RFC3339), "age_days": age, "rotation_days": rot}, k.ID))
		}
		switch {
		case k.LastUsed.IsZero() && a.Now.Sub(k.Created) > 24*time.Hour:
			out = append(out, a.mk(finding.KindIAMUnusedKey, finding.Medium, p,
				fmt.Sprintf("access key %s of %s was never used", k.ID, p.Name),
				"An active key that nothing uses is only a liability: deactivate and delete it.",
				finding.Evidence{"access_key_id": k.ID, "created": k.Created.UTC().Format(time.RFC3339), "last_used": nil}, k.ID))
		case !k.LastUsed.IsZero() && int(a.Now.Sub(k.LastUsed).Hours()/24) > unused:
			days := int(a.Now.Sub(k.LastUsed).Hours() / 24)
			out = append(out, a.mk(finding.KindIAMUnusedKey, finding.Medium, p,
				fmt.Sprintf("access key %s of %s unused for %d days", k.ID, p.Name, days),
				fmt.Sprintf("Last used %s (limit %d days): deactivate and delete it.", k.LastUsed.UTC().Format("2006-01-02"), unused),
				finding.Evidence{"access_key_id": k.ID, "last_used": k.LastUsed.UTC().Format(time.RFC3339), "unused_days": days}, k.ID))
		}
	}
	return out
}
