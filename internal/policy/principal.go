package policy

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Principal is a statement's Principal (or NotPrincipal) by type: "AWS",
// "Service", "Federated", "CanonicalUser". IAM reads `"Principal": "*"` as
// `{"AWS": "*"}`, and so does ParsePrincipal.
type Principal map[string]List

// ParsePrincipal reads a raw Principal element; empty raw is no principal.
func ParsePrincipal(raw json.RawMessage) (Principal, error) {
	t := strings.TrimSpace(string(raw))
	if t == "" || t == "null" {
		return nil, nil
	}
	if t[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		if s != "*" {
			return nil, fmt.Errorf("Principal %q: a string principal can only be \"*\"", s)
		}
		return Principal{"AWS": {"*"}}, nil
	}
	var p Principal
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("Principal: %v", err)
	}
	for k := range p {
		switch k {
		case "AWS", "Service", "Federated", "CanonicalUser":
		default:
			return nil, fmt.Errorf("Principal: unknown principal type %q", k)
		}
	}
	return p, nil
}

// Types returns the principal types in a fixed order, for stable output.
func (p Principal) Types() []string {
	var ts []string
	for t := range p {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}

// AccountOf returns the AWS account an AWS principal names: a bare account
// id, or the account field of an IAM ARN ("arn:aws:iam::ACCOUNT:root",
// ":role/x", ":user/x", an STS assumed-role ARN). "" for "*" and anything
// that names no account.
func AccountOf(awsPrincipal string) string {
	if isAccountID(awsPrincipal) {
		return awsPrincipal
	}
	parts := strings.SplitN(awsPrincipal, ":", 6)
	if len(parts) == 6 && parts[0] == "arn" && (parts[2] == "iam" || parts[2] == "sts") && isAccountID(parts[4]) {
		return parts[4]
	}
	return ""
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ParseResourcePolicy reads a resource-based policy: a role's trust policy,
// a secret's resource policy, a KMS key policy. Unlike an identity policy,
// each statement names its Principal, and Resource may be left out (a trust
// policy's resource is the role itself).
func ParseResourcePolicy(text string) (*Document, error) {
	d, err := decode(text)
	if err != nil {
		return nil, err
	}
	if len(d.Statement) == 0 {
		return nil, &SyntaxError{Msg: "policy has no Statement"}
	}
	for i, s := range d.Statement {
		where := fmt.Sprintf("Statement[%d]", i)
		switch {
		case s.Effect != "Allow" && s.Effect != "Deny":
			return nil, &SyntaxError{Msg: fmt.Sprintf("%s: Effect must be Allow or Deny, not %q", where, s.Effect)}
		case (len(s.Action) == 0) == (len(s.NotAction) == 0):
			return nil, &SyntaxError{Msg: where + ": needs exactly one of Action and NotAction"}
		case (len(s.Principal) == 0) == (len(s.NotPrincipal) == 0):
			return nil, &SyntaxError{Msg: where + ": needs exactly one of Principal and NotPrincipal"}
		}
		if _, err := ParsePrincipal(s.Principal); err != nil {
			return nil, &SyntaxError{Msg: where + ": " + err.Error()}
		}
		if _, err := ParsePrincipal(s.NotPrincipal); err != nil {
			return nil, &SyntaxError{Msg: where + ": " + err.Error()}
		}
	}
	return d, nil
}
