package trust

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/vigilsec/vigil/internal/policy"
)

// defaultAudience is the audience each CI issuer's AWS integration uses,
// added when a narrowed statement has none.
var defaultAudience = map[*issuer]string{&github: "sts.amazonaws.com", &terraform: "aws.workload.identity"}

// Narrow returns the trust policy cut down to the declaration: principals
// the declaration does not name are removed, each declared OIDC issuer's
// subject condition is replaced by the declared subjects (StringLike when
// one has a wildcard, else StringEquals), and an audience condition is
// added where there is none. Statements other than Allow-assume ones are
// kept as they are. It refuses (error) when nothing declared would be left,
// or a door can't be fixed by narrowing (a third party without the external
// id the analysis asks for: only its owner knows the id).
func Narrow(doc *policy.Document, decl *Declared, c Context) (*policy.Document, error) {
	if decl == nil {
		return nil, fmt.Errorf("no trust is declared: vigil narrows only to a declaration")
	}
	out := &policy.Document{Version: doc.Version, ID: doc.ID}
	if out.Version == "" {
		out.Version = "2012-10-17"
	}
	kept := 0
	for i, st := range doc.Statement {
		if st.Effect != "Allow" || !assumes(st) {
			out.Statement = append(out.Statement, st)
			continue
		}
		if len(st.NotPrincipal) > 0 {
			continue // everyone but a few: nothing in it is a declared door
		}
		p, err := policy.ParsePrincipal(st.Principal)
		if err != nil {
			return nil, fmt.Errorf("statement %d: %v", i, err)
		}
		// Each principal type becomes its own statement: an OIDC
		// statement's conditions must not apply to an AWS principal.
		for _, typ := range p.Types() {
			var keep []string
			for _, who := range p[typ] {
				switch {
				case typ == "Federated" && providerHost(who) != "":
					if d := declaredIssuer(decl, providerHost(who)); d != nil && len(d.Subjects) > 0 {
						ns := st
						ns.Sid = ""
						ns.Principal = principalJSON("Federated", []string{who})
						ns.Condition = oidcCondition(st.Condition, providerHost(who), d)
						out.Statement = append(out.Statement, ns)
						kept++
					}
				case typ == "AWS" && who != "*" && declaredPrincipal(decl, who):
					acct := policy.AccountOf(who)
					known := has(c.Known, acct) || has(decl.Accounts, acct) || acct == c.Account
					if (!known || decl.ExternalID) && acct != c.Account && !conditioned(st, "sts:externalid") {
						return nil, fmt.Errorf("%s is declared but presents no sts:ExternalId; ask its owner for the id and add the condition by hand", who)
					}
					keep = append(keep, who)
				case typ != "AWS" && typ != "Federated" && declaredPrincipal(decl, who):
					keep = append(keep, who)
				case typ == "Federated" && declaredPrincipal(decl, who): // SAML
					keep = append(keep, who)
				}
			}
			if len(keep) > 0 {
				ns := st
				ns.Sid = ""
				ns.Principal = principalJSON(typ, keep)
				out.Statement = append(out.Statement, ns)
				kept++
			}
		}
	}
	if kept == 0 {
		return nil, fmt.Errorf("no declared principal is trusted now: narrowing would leave the role unusable; write its trust policy by hand")
	}
	return out, nil
}

func declaredIssuer(decl *Declared, host string) *OIDC {
	for k := range decl.OIDC {
		if strings.EqualFold(strings.TrimPrefix(decl.OIDC[k].Provider, "https://"), host) {
			return &decl.OIDC[k]
		}
	}
	return nil
}

// oidcCondition keeps the statement's conditions on other keys, replaces
// the subject with the declared subjects, and sets the audience.
func oidcCondition(cond map[string]map[string]policy.List, host string, d *OIDC) map[string]map[string]policy.List {
	subKey, audKey := strings.ToLower(host)+":sub", strings.ToLower(host)+":aud"
	out := map[string]map[string]policy.List{}
	hasAud := false
	for op, kv := range cond {
		for k, v := range kv {
			l := strings.ToLower(k)
			if l == subKey || (l == audKey && (weakOperator(op) || negated(op) || has(v, "*"))) {
				continue
			}
			if l == audKey {
				hasAud = true
			}
			if out[op] == nil {
				out[op] = map[string]policy.List{}
			}
			out[op][k] = v
		}
	}
	op := "StringEquals"
	for _, s := range d.Subjects {
		if strings.ContainsAny(s, "*?") {
			op = "StringLike"
		}
	}
	subs := append(policy.List(nil), d.Subjects...)
	sort.Strings(subs)
	if out[op] == nil {
		out[op] = map[string]policy.List{}
	}
	out[op][host+":sub"] = subs
	if !hasAud {
		aud := d.Audiences
		if len(aud) == 0 {
			if def := defaultAudience[issuerOf(host)]; def != "" {
				aud = []string{def}
			}
		}
		if len(aud) > 0 {
			if out["StringEquals"] == nil {
				out["StringEquals"] = map[string]policy.List{}
			}
			out["StringEquals"][host+":aud"] = aud
		}
	}
	return out
}

func principalJSON(typ string, who []string) json.RawMessage {
	var v any = who
	if len(who) == 1 {
		v = who[0]
	}
	b, _ := json.Marshal(map[string]any{typ: v})
	return b
}

// Text renders a narrowed policy as IAM takes it.
func Text(d *policy.Document) string {
	b, _ := json.Marshal(d)
	return string(b)
}
