package iam

import (
	"fmt"
	"strings"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/trust"
	"github.com/vigilsec/vigil/rules"
)

// trust reports a role's trust policy: doors too wide whatever was
// declared, and, when the identity declares its trust, doors it does not
// name. Service-linked roles are AWS's to trust.
func (a *Analyzer) trust(g *Graph, p *Principal, id *rules.Identity, live []grant) []finding.Finding {
	if p.Kind != rules.KindRole || strings.HasPrefix(p.Path, "/aws-service-role/") {
		return nil
	}
	if p.TrustErr != nil {
		return []finding.Finding{a.mk(finding.KindIAMUnparsablePolicy, finding.Medium, p,
			fmt.Sprintf("trust policy of role %s can't be analysed", p.Name),
			"vigil could not parse the trust policy, so who may assume the role is unverified: "+p.TrustErr.Error(),
			finding.Evidence{"policy": "trust", "error": p.TrustErr.Error()}, "trust")}
	}
	if p.Trust == nil {
		return nil
	}
	var decl *trust.Declared
	if id != nil {
		decl = id.Trust
	}
	c := trust.Context{Account: g.Account, Known: a.Known, CanWrite: canWrite(live), Templates: a.Templates}
	if id != nil && id.Trust != nil {
		c.Known = append(append([]string(nil), c.Known...), id.Trust.Accounts...)
	}
	var out []finding.Finding
	issues := trust.Analyze(p.Trust, decl, c)
	// What remediation would write: the policy cut down to the
	// declaration, or why it can't be.
	suggested, refused := "", "no trust: is declared for this role, so vigil has nothing to narrow it to"
	if decl != nil && len(issues) > 0 {
		if n, err := trust.Narrow(p.Trust, decl, c); err != nil {
			refused = err.Error()
		} else {
			suggested, refused = trust.Text(n), ""
		}
	}
	for _, is := range issues {
		st := p.Trust.Statement[is.Statement]
		ev := finding.Evidence{"reason": string(is.Reason), "trusted": is.Principal, "statement": st.JSON(), "statement_index": is.Statement}
		if suggested != "" {
			ev[finding.EvSuggestedTrust] = suggested
		} else {
			ev[finding.EvNarrowRefused] = refused
		}
		kind, title := finding.KindIAMTrustTooBroad, fmt.Sprintf("role %s can be assumed too widely: %s", p.Name, reasonText(is.Reason))
		if is.Reason == trust.Undeclared {
			kind, title = finding.KindIAMUndeclaredTrust, fmt.Sprintf("role %s trusts %s, which is not declared", p.Name, is.Principal)
			ev["declared_policy"] = id.PolicyName
		}
		out = append(out, a.mk(kind, is.Reason.Severity(), p, title, is.Detail+".", ev,
			"trust", fmt.Sprint(is.Statement), string(is.Reason), is.Principal))
	}
	return out
}

func reasonText(r trust.Reason) string {
	switch r {
	case trust.Public:
		return "any AWS principal"
	case trust.NotPrincipal:
		return "everyone but a few (NotPrincipal)"
	case trust.OIDCNoSubject:
		return "any subject of its OIDC issuer"
	case trust.OIDCWeakOperator:
		return "subject checked only if present"
	case trust.OIDCOwnerWildcard:
		return "repositories of any owner"
	case trust.OIDCRepoWildcard:
		return "any repository of the owner"
	case trust.OIDCPullRequest:
		return "pull-request workflows"
	case trust.NoExternalID:
		return "another account without an external id"
	case trust.OIDCRefWildcard:
		return "any branch or environment"
	case trust.OIDCNoAudience:
		return "tokens of any audience"
	}
	return string(r)
}

// readVerbs start the IAM actions that only read. Anything else (and a
// wildcard) can write, which matters for who may assume the role.
var readVerbs = []string{"get", "list", "describe", "head", "query", "scan", "batchget", "select", "search", "lookup", "view", "filter"}

func canWrite(live []grant) bool {
	for _, g := range live {
		if len(g.stmt.NotAction) > 0 {
			return true
		}
		for _, act := range g.stmt.Action {
			verb := strings.ToLower(act[strings.IndexByte(act, ':')+1:])
			read := false
			for _, r := range readVerbs {
				read = read || (strings.HasPrefix(verb, r) && !strings.Contains(verb, "*"))
			}
			if !read {
				return true
			}
		}
	}
	return false
}
