package trust

import (
	"sort"
	"strings"

	"github.com/vigilsec/vigil/internal/policy"
)

// issuer is what vigil knows of a CI system's OIDC tokens: how its subject
// claim is built and which claims in it name the owner, the repository and
// the ref. The subject of all four is "key:value:key:value..." (CircleCI's
// uses "/"), which is how a subject written in a trust policy is read back.
type issuer struct {
	name string
	// template is the default subject's claim keys, in order.
	template []string
	// claims are every key a customised subject may carry (GitHub only).
	claims []string
	sep    string
	// owner, repo and ref list the claims naming each, best first. owner
	// empty: the issuer URL itself is the owner's (CircleCI).
	owner, repo, ref []string
}

var (
	github = issuer{
		// GitHub prints every claim as "key:value" except context, whose
		// value ("ref:refs/heads/main", "environment:prod",
		// "pull_request") stands alone: "repo:acme/etl:ref:refs/heads/main"
		// is the default subject. So subjects are read by finding the
		// claims' keys, with ref and environment standing for context.
		name: "GitHub Actions",
		claims: []string{"repo", "context", "repository", "repository_id", "repository_owner", "repository_owner_id",
			"repository_visibility", "ref", "ref_type", "environment", "job_workflow_ref", "job_workflow_sha",
			"workflow", "workflow_ref", "workflow_sha", "event_name", "actor", "actor_id", "head_ref", "base_ref",
			"runner_environment", "enterprise", "enterprise_id", "sha"},
		sep:   ":",
		owner: []string{"repo", "repository", "repository_owner", "repository_owner_id"},
		repo:  []string{"repository_id", "repo", "repository"},
		ref:   []string{"context", "ref", "environment", "job_workflow_ref", "workflow_ref"},
	}
	gitlab = issuer{
		name:     "GitLab CI",
		template: []string{"project_path", "ref_type", "ref"},
		sep:      ":",
		owner:    []string{"project_path"},
		repo:     []string{"project_path"},
		ref:      []string{"ref"},
	}
	terraform = issuer{
		name:     "Terraform Cloud",
		template: []string{"organization", "project", "workspace", "run_phase"},
		sep:      ":",
		owner:    []string{"organization"},
		repo:     []string{"workspace"},
		ref:      []string{"run_phase"},
	}
	circleci = issuer{
		name:     "CircleCI",
		template: []string{"org", "project", "user"},
		sep:      "/",
		repo:     []string{"project"},
	}
)

// issuerOf recognises an issuer by its host (and path): GitHub's, also
// with an enterprise's own path; gitlab.com or a self-managed GitLab named
// in the declaration; Terraform Cloud; CircleCI's per-organisation URL.
func issuerOf(host string) *issuer {
	h := strings.ToLower(host)
	switch {
	case h == "token.actions.githubusercontent.com" || strings.HasPrefix(h, "token.actions.githubusercontent.com/"):
		return &github
	case h == "gitlab.com" || strings.Contains(h, "gitlab"):
		return &gitlab
	case h == "app.terraform.io" || strings.Contains(h, "terraform"):
		return &terraform
	case strings.HasPrefix(h, "oidc.circleci.com/org/"):
		return &circleci
	}
	return nil
}

// providerHost returns the issuer of a Federated principal: the part after
// "oidc-provider/" of a provider ARN, or a bare host
// ("cognito-identity.amazonaws.com"). SAML providers return "".
func providerHost(federated string) string {
	if i := strings.Index(federated, ":oidc-provider/"); i >= 0 {
		return federated[i+len(":oidc-provider/"):]
	}
	if strings.HasPrefix(federated, "arn:") {
		return ""
	}
	return federated
}

func federated(st policy.Statement, i int, who string, decl *Declared, c Context, add adder) {
	host := providerHost(who)
	if host == "" { // SAML: the identity provider decides who comes in
		if decl != nil && !declaredPrincipal(decl, who) {
			add(Undeclared, who, "statement %d lets users of SAML provider %s assume the role, which the declaration does not name", i, who)
		}
		return
	}
	is := issuerOf(host)
	subKey, audKey := strings.ToLower(host)+":sub", strings.ToLower(host)+":aud"
	subs, glob, weak := subjects(st, subKey)
	name := host
	if is != nil {
		name = is.name + " (" + host + ")"
	}
	switch {
	case len(subs) == 0 && weak:
		add(OIDCWeakOperator, host, "statement %d trusts %s with its subject only under an ...IfExists or ForAllValues: operator, which is true when the token has no such claim: anyone who can get a token from the issuer can assume the role", i, name)
	case len(subs) == 0 && is == &circleci:
		add(OIDCRepoWildcard, host, "statement %d trusts every project of the CircleCI organisation: no subject condition names a project", i)
	case len(subs) == 0 && (is != nil || !conditioned(st, audKey)):
		add(OIDCNoSubject, host, "statement %d trusts %s with no condition on the token's subject: any repository or pipeline that can get a token from the issuer can assume the role", i, name)
	}
	if !conditioned(st, audKey) {
		add(OIDCNoAudience, host, "statement %d trusts %s without a condition on %s: tokens minted for other audiences are accepted", i, name, audKey)
	}
	if is != nil {
		for _, s := range subs {
			if r, why := is.judge(s, glob, c); r != "" {
				add(r, host+" "+s, "statement %d trusts %s subject %q: %s", i, name, s, why)
			}
		}
	}
	if decl == nil {
		return
	}
	var d *OIDC
	for k := range decl.OIDC {
		if strings.EqualFold(strings.TrimPrefix(decl.OIDC[k].Provider, "https://"), host) {
			d = &decl.OIDC[k]
		}
	}
	if d == nil {
		add(Undeclared, host, "statement %d trusts issuer %s, which the declaration does not name", i, host)
		return
	}
	if len(subs) == 0 && len(d.Subjects) > 0 {
		add(Undeclared, host, "statement %d trusts every subject of %s; the declaration names %s", i, host, strings.Join(d.Subjects, ", "))
	}
	for _, s := range subs {
		if !declaredSubject(d.Subjects, s, glob) {
			add(Undeclared, host+" "+s, "statement %d trusts subject %q of %s, which the declaration does not name", i, s, host)
		}
	}
}

func declaredSubject(declared []string, live string, glob bool) bool {
	for _, d := range declared {
		if glob && policy.Contains(d, live) || !glob && policy.Match(d, live) {
			return true
		}
	}
	return false
}

// subjects returns the subject patterns a statement requires. IAM ANDs the
// operators of a statement, so when a StringEquals names subjects they are
// the whole set; otherwise the ...Like patterns (glob: true). weak says a
// subject appears only under an operator that is true when the claim is
// missing.
func subjects(st policy.Statement, key string) (subs []string, glob, weak bool) {
	var equals, like []string
	for op, kv := range st.Condition {
		for k, vals := range kv {
			if strings.ToLower(k) != key || negated(op) {
				continue
			}
			switch {
			case weakOperator(op):
				weak = true
			case globOperator(op):
				like = append(like, vals...)
			default:
				equals = append(equals, vals...)
			}
		}
	}
	if len(equals) > 0 {
		sort.Strings(equals)
		return equals, false, weak
	}
	sort.Strings(like)
	return like, len(like) > 0, weak
}

// judge returns the widest reason a subject pattern is too broad, or "".
func (is *issuer) judge(sub string, glob bool, c Context) (Reason, string) {
	wild := func(v string) bool { return glob && strings.ContainsAny(v, "*?") }
	claims := is.parse(sub, nil)
	var template []string
	if is == &github {
		o, _ := claimOf(claims, is.owner)
		if template = c.Templates[strings.ToLower(ownerName(o))]; len(template) > 0 {
			if cl := is.parse(sub, template); cl != nil {
				claims = cl
			}
		}
	}
	if claims == nil {
		if wild(sub) {
			return OIDCOwnerWildcard, "it does not start with a claim vigil knows, and its wildcard may match any owner"
		}
		return "", ""
	}
	if len(is.owner) > 0 {
		o, ok := claimOf(claims, is.owner)
		_, byID := claims["repository_id"] // repository ids are global: no owner needed
		switch {
		case !ok && !byID:
			return OIDCOwnerWildcard, "it names no owner, so a repository of any owner whose subject has this shape matches (a customised subject template can produce it)"
		case ok && wild(ownerName(o)):
			return OIDCOwnerWildcard, "the owner is a wildcard, so repositories of other owners match"
		}
	}
	r, ok := claimOf(claims, is.repo)
	if !ok || wild(repoName(r, is.sep)) {
		return OIDCRepoWildcard, "any repository (project, workspace) of the owner matches, including ones created later and their forks' workflows where allowed"
	}
	ref, hasRef := claimOf(claims, is.ref)
	if is == &github && strings.HasSuffix(r, ":pull_request") {
		ref, hasRef = "pull_request", true
	}
	if is == &github && (ref == "pull_request" || claims["event_name"] == "pull_request" || claims["event_name"] == "pull_request_target") && c.CanWrite {
		return OIDCPullRequest, "pull-request workflows, which anyone who can open a pull request controls, reach a role that can write"
	}
	anyRef := "any branch, tag or environment matches, so an unreviewed branch can assume the role"
	switch {
	case len(is.ref) == 0:
	case hasRef && wild(ref):
		return OIDCRefWildcard, anyRef
	case !hasRef && wild(sub): // cut short by a wildcard: "repo:acme/etl:*"
		return OIDCRefWildcard, anyRef
	case !hasRef && is == &github:
		// Without a ref, the subject matches only if the organisation's
		// template leaves the ref out, and then it matches every ref.
		// A template vigil has not read is assumed to do so.
		for _, k := range is.ref {
			if has(template, k) {
				return "", ""
			}
		}
		return OIDCRefWildcard, "the subject names no ref, which matches only under a subject template without one, and then every branch, tag and environment"
	}
	return "", ""
}

// parse reads sub as claims: by the issuer's fixed template, or (GitHub)
// by finding the known claims' keys, only the organisation's own template's
// keys when it is known, so a value that looks like a claim name is not cut.
func (is *issuer) parse(sub string, template []string) map[string]string {
	if len(is.claims) == 0 {
		return byTemplate(sub, is.template, is.sep)
	}
	claims := is.claims
	if template != nil {
		claims = nil
		for _, k := range template {
			if k == "context" {
				claims = append(claims, "ref", "environment")
			} else {
				claims = append(claims, k)
			}
		}
	}
	// A customised subject: claims of GitHub's list in the template's
	// order, which vigil finds by position.
	type at struct {
		key string
		pos int
	}
	var found []at
	for _, k := range claims {
		if strings.HasPrefix(sub, k+":") {
			found = append(found, at{k, 0})
		}
		for off := 0; ; {
			j := strings.Index(sub[off:], ":"+k+":")
			if j < 0 {
				break
			}
			found = append(found, at{k, off + j + 1})
			off += j + 1
		}
	}
	sort.Slice(found, func(a, b int) bool { return found[a].pos < found[b].pos })
	if len(found) == 0 || found[0].pos != 0 {
		return nil
	}
	// Keep claims that start after the previous one's value began: a
	// context value "ref:refs/heads/main" holds the key "ref" itself.
	var tmpl []string
	last := -1
	for _, f := range found {
		if f.pos > last && !has(tmpl, f.key) {
			tmpl = append(tmpl, f.key)
			last = f.pos + len(f.key) + 1
		}
	}
	return byTemplate(sub, tmpl, is.sep)
}

// byTemplate splits "k1<sep>v1<sep>k2<sep>v2..." by the given keys. A value
// runs until the next key; a subject that is shorter (a trailing wildcard)
// leaves the later claims out.
func byTemplate(sub string, template []string, sep string) map[string]string {
	if len(template) == 0 || !strings.HasPrefix(sub, template[0]+sep) {
		return nil
	}
	out := map[string]string{}
	rest := sub[len(template[0])+len(sep):]
	for i, k := range template {
		if i+1 == len(template) {
			out[k] = rest
			break
		}
		next := sep + template[i+1] + sep
		j := strings.Index(rest, next)
		if j < 0 {
			out[k] = rest
			break
		}
		out[k] = rest[:j]
		rest = rest[j+len(next):]
	}
	return out
}

func claimOf(claims map[string]string, keys []string) (string, bool) {
	for _, k := range keys {
		if v, ok := claims[k]; ok {
			return v, true
		}
	}
	return "", false
}

// ownerName is the owner part of "owner/repo" (or of a GitLab
// "group/subgroup/project"), cut at the next claim, without GitHub's
// immutable "@id" suffix.
func ownerName(v string) string {
	if i := strings.IndexByte(v, '/'); i >= 0 {
		v = v[:i]
	}
	v = strings.SplitN(v, ":", 2)[0]
	if i := strings.IndexByte(v, '@'); i >= 0 {
		v = v[:i]
	}
	return v
}

// repoName is the repository part of "owner/repo" (GitLab: everything
// after the group), cut at the next claim; a value with no "/" is itself
// the repository (repository_id, workspace, CircleCI project).
func repoName(v, sep string) string {
	if i := strings.IndexByte(v, '/'); i >= 0 {
		v = v[i+1:]
	}
	if sep == ":" {
		v = strings.SplitN(v, ":", 2)[0]
	}
	return v
}
