package iam

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/internal/secrethash"
)

// CICredential is a credential a CI system holds, as vigil saw it: a
// secret by its name (CI secrets are write-only), or a credential found in
// a variable, by the keyed hash of its value.
type CICredential struct {
	// Where is the store path ("github:org/acme/actions/AWS_ACCESS_KEY_ID").
	Where string
	Name  string
	Hash  string // "" when only the name is known
	// Issuer is the OIDC issuer the CI system could federate through
	// instead, as its URL's host (and path): GitLab's host for GitLab CI;
	// "" is GitHub Actions'.
	Issuer string
}

// awsKeyName matches the names CI secrets holding an access key pair get.
var awsKeyName = regexp.MustCompile(`(?i)(^|_)AWS_(ACCESS_KEY(_ID)?|SECRET(_ACCESS)?_KEY)$|^(ACCESS_KEY_ID|SECRET_ACCESS_KEY)$`)

// gitHubIssuer is GitHub Actions' OIDC issuer.
const gitHubIssuer = "token.actions.githubusercontent.com"

func (c CICredential) issuer() string {
	if c.Issuer == "" {
		return gitHubIssuer
	}
	return strings.ToLower(strings.TrimSuffix(c.Issuer, "/"))
}

// trustsIssuer says whether an account with these OIDC providers (ARNs,
// arn:aws:iam::ACCOUNT:oidc-provider/HOST[/PATH]) trusts issuer.
func trustsIssuer(providers []string, issuer string) bool {
	for _, p := range providers {
		_, url, ok := strings.Cut(p, ":oidc-provider/")
		if ok && strings.EqualFold(strings.TrimSuffix(url, "/"), issuer) {
			return true
		}
	}
	return false
}

// ciAdvice is what a person should do about a long-lived key in CI, by the
// CI system's issuer.
func ciAdvice(issuer string) string {
	if issuer == gitHubIssuer {
		return "The account trusts GitHub's OIDC issuer, so the workflow can assume a role with a short-lived token instead (aws-actions/configure-aws-credentials with role-to-assume): do that, then delete the key."
	}
	return fmt.Sprintf("The account trusts GitLab's OIDC issuer (%s), so the job can assume a role with a short-lived token instead (an id_tokens: entry, then aws sts assume-role-with-web-identity): do that, then delete the key.", issuer)
}

// CIKeys reports long-lived access keys of the account held by CI, where
// the account already trusts that CI system's OIDC issuer and federation
// would do: a CI credential whose keyed hash is one of the account's live
// access key ids, naming the IAM user.
func (a *Analyzer) CIKeys(g *Graph, creds []CICredential) []finding.Finding {
	type owner struct{ user, key string }
	live := map[string]owner{}
	if a.HashKeyID != nil {
		for _, p := range g.Principals {
			for _, k := range p.Keys {
				if k.Active {
					live[a.HashKeyID(k.ID)] = owner{p.ARN, k.ID}
				}
			}
		}
	}
	var out []finding.Finding
	kind := finding.KindIAMLongLivedKeyInCI
	for _, c := range creds {
		if !trustsIssuer(g.OIDCProviders, c.issuer()) {
			continue
		}
		if o, ok := live[c.Hash]; ok && c.Hash != "" {
			// Named redacted, as the plaintext_variable finding names what
			// it found: the user is what a person needs.
			key := secrethash.Redact(o.key)
			out = append(out, a.newFinding(kind, finding.High, c.Where,
				fmt.Sprintf("CI holds access key %s of %s at %s", key, o.user[strings.LastIndex(o.user, "/")+1:], c.Where),
				fmt.Sprintf("%s holds the id of live access key %s of IAM user %s, a long-lived credential. %s", c.Where, key, o.user, ciAdvice(c.issuer())),
				finding.Evidence{"where": c.Where, "iam_user": o.user, "access_key_id": key}, c.Where, o.key))
		}
	}
	return out
}

// CINames reports CI secrets named like an AWS access key (CI secrets are
// write-only: only the name is known; a credential whose value vigil saw is
// matched by it in CIKeys instead), for when some account trusts that CI
// system's OIDC issuer (providers: every account's). A name says nothing of
// the account: these are a source of their own (iam:ci), not any account's.
func (a *Analyzer) CINames(creds []CICredential, providers []string) []finding.Finding {
	var out []finding.Finding
	kind := finding.KindIAMLongLivedKeyInCI
	for _, c := range creds {
		if c.Hash != "" || !awsKeyName.MatchString(c.Name) || !trustsIssuer(providers, c.issuer()) {
			continue
		}
		out = append(out, a.newFinding(kind, finding.Medium, c.Where,
			fmt.Sprintf("CI secret %s looks like a long-lived AWS access key", c.Where),
			fmt.Sprintf("%s is named like an AWS access key; vigil can't tell whose. %s", c.Where, ciAdvice(c.issuer())),
			finding.Evidence{"where": c.Where, "name": c.Name}, c.Where))
	}
	return out
}

// namesUndecided says whether a name-only credential's issuer is trusted by
// no account that was read: one that could not be read might trust it.
func namesUndecided(creds []CICredential, providers []string) bool {
	for _, c := range creds {
		if c.Hash == "" && awsKeyName.MatchString(c.Name) && !trustsIssuer(providers, c.issuer()) {
			return true
		}
	}
	return false
}
