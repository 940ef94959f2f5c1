// Package trust answers "who can become this role?": it reads a role's trust
// policy (the resource policy on sts:AssumeRole*) and reports the doors that
// are open too wide (anyone, any GitHub repository, another account without
// an external id) and, when the identity declares who may assume it, every
// door that the declaration does not name.
//
// The analysis is static, over the policy text: an emulator does not
// evaluate trust conditions, and a live AWS account would answer only for
// the callers we can impersonate. Each rule below says which IAM semantics
// it relies on.
package trust

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/policy"
)

// Declared is who may assume an identity, as its owner declares it (the
// `trust:` of a declared identity).
type Declared struct {
	// Principals are AWS principal ARNs (roles, users, account roots) and
	// service principals ("ec2.amazonaws.com") that may assume it.
	Principals []string `yaml:"principals"`
	// Accounts are account ids any of whose principals may assume it.
	Accounts []string `yaml:"accounts"`
	// OIDC lists federated issuers and the subjects (IAM globs) they may
	// present.
	OIDC []OIDC `yaml:"oidc"`
	// ExternalID, when true, requires sts:ExternalId of every principal
	// of another account, even one of the organisation's own.
	ExternalID bool `yaml:"external_id"`
}

// OIDC is one declared federated issuer.
type OIDC struct {
	// Provider is the issuer as IAM names it, without https://
	// ("token.actions.githubusercontent.com", "gitlab.com").
	Provider  string   `yaml:"provider"`
	Subjects  []string `yaml:"subjects"`
	Audiences []string `yaml:"audiences"`
}

// Context is what the analysis knows beyond the policy.
type Context struct {
	// Account is the role's own account.
	Account string
	// Known are the organisation's accounts (the ones vigil reads, and the
	// declared ones): trusting them is not trusting a third party.
	Known []string
	// CanWrite says the role's permissions go beyond reads: a pull-request
	// workflow (which anyone who can open a pull request controls) must not
	// reach it.
	CanWrite bool
	// Templates are GitHub organisations' customised subject claim keys
	// (lower-case owner → include_claim_keys), read from the organisation.
	Templates map[string][]string
}

// Reason says why a door is too wide.
type Reason string

// Reasons, most severe first.
const (
	Public            Reason = "public"               // Principal "*" without a condition that names the caller
	NotPrincipal      Reason = "not_principal"        // Allow with NotPrincipal: everyone but a few
	OIDCNoSubject     Reason = "oidc_no_subject"      // federated issuer trusted with no subject condition
	OIDCWeakOperator  Reason = "oidc_weak_operator"   // subject only under ...IfExists / ForAllValues:
	OIDCOwnerWildcard Reason = "oidc_owner_wildcard"  // any owner/organisation/group
	OIDCRepoWildcard  Reason = "oidc_repo_wildcard"   // any repository/project/workspace of the owner
	OIDCPullRequest   Reason = "oidc_pull_request"    // pull_request workflows reach a role that can write
	NoExternalID      Reason = "no_external_id"       // a third party's account without sts:ExternalId
	OIDCRefWildcard   Reason = "oidc_ref_wildcard"    // any branch, tag or environment
	OIDCNoAudience    Reason = "oidc_no_audience"     // no (or a wildcard) audience condition
	Undeclared        Reason = "undeclared"           // a door the declaration does not name
	UnknownPrincipal  Reason = "unparsable_principal" // a principal vigil can't read
)

// Severity of a reason.
func (r Reason) Severity() finding.Severity {
	switch r {
	case Public, NotPrincipal, OIDCNoSubject, OIDCWeakOperator, OIDCOwnerWildcard:
		return finding.Critical
	case OIDCRepoWildcard, OIDCPullRequest, NoExternalID:
		return finding.High
	default:
		return finding.Medium
	}
}

// Issue is one door found open.
type Issue struct {
	Reason Reason
	// Statement is the index of the trust policy's statement.
	Statement int
	// Principal is who the door lets in: an ARN, "*", a service, or
	// "issuer sub" for a federated subject.
	Principal string
	Detail    string
}

// assumeActions are the actions that make a principal the role.
var assumeActions = []string{"sts:AssumeRole", "sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML"}

// Analyze returns the issues of one trust policy, sorted. decl may be nil
// (nothing declared: only too-wide doors are reported).
func Analyze(doc *policy.Document, decl *Declared, c Context) []Issue {
	var out []Issue
	for i, st := range doc.Statement {
		if st.Effect != "Allow" || !assumes(st) {
			// A Deny can only close doors; vigil reports the Allow as
			// written rather than guess what the Deny leaves open.
			continue
		}
		add := func(r Reason, who, format string, a ...any) {
			out = append(out, Issue{Reason: r, Statement: i, Principal: who, Detail: fmt.Sprintf(format, a...)})
		}
		if len(st.NotPrincipal) > 0 {
			add(NotPrincipal, "*", "statement %d allows every principal except the ones NotPrincipal names", i)
			continue
		}
		p, err := policy.ParsePrincipal(st.Principal)
		if err != nil {
			add(UnknownPrincipal, string(st.Principal), "statement %d: %v", i, err)
			continue
		}
		for _, typ := range p.Types() {
			for _, who := range p[typ] {
				switch typ {
				case "AWS":
					awsPrincipal(st, i, who, decl, c, add)
				case "Federated":
					federated(st, i, who, decl, c, add)
				default: // Service, CanonicalUser
					if decl != nil && !declaredPrincipal(decl, who) {
						add(Undeclared, who, "statement %d lets %s %s assume the role, which the declaration does not name", i, strings.ToLower(typ), who)
					}
				}
			}
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].Statement != out[b].Statement {
			return out[a].Statement < out[b].Statement
		}
		if out[a].Principal != out[b].Principal {
			return out[a].Principal < out[b].Principal
		}
		return out[a].Reason < out[b].Reason
	})
	return out
}

func assumes(st policy.Statement) bool {
	for _, a := range assumeActions {
		if policy.OverlapsAction(st, a) {
			return true
		}
	}
	return false
}

type adder func(r Reason, who, format string, a ...any)

// narrowingKeys name the caller (or the resource acting for it): a "*"
// principal restricted by one of these is not public.
var narrowingKeys = []string{"aws:principalorgid", "aws:principalorgpaths", "aws:principalaccount", "aws:principalarn",
	"aws:sourceaccount", "aws:sourcearn", "aws:sourceowner", "aws:sourceorgid", "aws:principalservicename"}

func awsPrincipal(st policy.Statement, i int, who string, decl *Declared, c Context, add adder) {
	if who == "*" {
		if !conditioned(st, narrowingKeys...) {
			add(Public, "*", "statement %d lets any AWS principal of any account assume the role, with no condition naming the caller (aws:PrincipalOrgID, aws:PrincipalArn, ...)", i)
		}
		return
	}
	acct := policy.AccountOf(who)
	if acct != "" && acct != c.Account {
		known := has(c.Known, acct) || (decl != nil && has(decl.Accounts, acct))
		needsID := !known || (decl != nil && decl.ExternalID)
		if needsID && !conditioned(st, "sts:externalid") {
			add(NoExternalID, who, "statement %d lets account %s assume the role without sts:ExternalId; a third party's role can then be used against you by its other customers (the confused deputy)", i, acct)
		}
	}
	if decl != nil && !declaredPrincipal(decl, who) {
		add(Undeclared, who, "statement %d lets %s assume the role, which the declaration does not name", i, who)
	}
}

func declaredPrincipal(decl *Declared, who string) bool {
	for _, d := range decl.Principals {
		if d == who || policy.Match(d, who) {
			return true
		}
	}
	acct := policy.AccountOf(who)
	return acct != "" && has(decl.Accounts, acct)
}

// conditioned reports whether some condition on one of keys restricts the
// statement for every request: not an ...IfExists or ForAllValues:
// operator (both are true when the key is absent), not a negated operator,
// and not a bare "*".
func conditioned(st policy.Statement, keys ...string) bool {
	for op, kv := range st.Condition {
		if weakOperator(op) || negated(op) {
			continue
		}
		for k, vals := range kv {
			if !has(keys, strings.ToLower(k)) {
				continue
			}
			for _, v := range vals {
				if v != "*" && v != "" {
					return true
				}
			}
		}
	}
	return false
}

func weakOperator(op string) bool {
	l := strings.ToLower(op)
	return strings.HasSuffix(l, "ifexists") || strings.HasPrefix(l, "forallvalues:")
}

func negated(op string) bool { return strings.Contains(strings.ToLower(op), "not") }

// globOperator: only the ...Like operators treat * and ? as wildcards.
func globOperator(op string) bool { return strings.Contains(strings.ToLower(op), "like") }

func has(l []string, s string) bool {
	for _, x := range l {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
