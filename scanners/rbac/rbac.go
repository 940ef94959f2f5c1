// Package rbac compares what Kubernetes RBAC lets each declared kubernetes
// identity (a service account) do with what it is declared to need, both
// ways, as the iam scanner does for AWS: a grant the live Roles and
// ClusterRoles bound to it give beyond its declaration is excess, a
// declared permission no binding gives is missing. Bindings to the service
// account, to the user name it authenticates as, and to the groups every
// service account is in (system:serviceaccounts[:NAMESPACE],
// system:authenticated) all count; the cluster's own bootstrap bindings
// (kubernetes.io/bootstrapping=rbac-defaults), which every identity has, do
// not.
package rbac

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/scanners"
)

// Scanner is the RBAC drift scanner.
type Scanner struct {
	// Identities are the kubernetes identities that declare rbac.
	Identities []rules.Identity
	// Clusters by inventory.kubernetes name; Failed names the ones whose
	// client could not be made.
	Clusters map[string]kubernetes.Interface
	Failed   map[string]error
	Controls rules.Controls
}

// Name implements scanners.Scanner.
func (s *Scanner) Name() string { return "rbac" }

// Scan reads each cluster's RBAC once and emits one result per identity.
// A cluster that can't be read leaves its identities partial (their
// findings stay as they were); the other clusters are still compared.
func (s *Scanner) Scan(ctx context.Context, _ scanners.StateReader, emit func(scanners.Result)) error {
	graphs := map[string]*graph{}
	errs := map[string]error{}
	for _, id := range s.Identities {
		res := scanners.Result{Source: scanners.Source{Scanner: "rbac", Name: id.Name}, Mode: scanners.Full}
		g, ok := graphs[id.Cluster]
		err := errs[id.Cluster]
		if !ok && err == nil {
			switch c := s.Clusters[id.Cluster]; {
			case s.Failed[id.Cluster] != nil:
				err = s.Failed[id.Cluster]
			case c == nil:
				err = fmt.Errorf("cluster %q is not configured (inventory.kubernetes)", id.Cluster)
			default:
				g, err = load(ctx, c)
			}
			graphs[id.Cluster], errs[id.Cluster] = g, err
		}
		if err != nil {
			res.Mode, res.Err = scanners.Partial, fmt.Errorf("rbac of %s in kubernetes:%s: %w", id.Name, id.Cluster, err)
			emit(res)
			continue
		}
		res.Findings = s.compare(&id, g.grantsOf(id.Namespace, id.ServiceAccount))
		emit(res)
	}
	return nil
}

// graph is a cluster's RBAC objects.
type graph struct {
	clusterRoles map[string][]rbacv1.PolicyRule
	roles        map[string][]rbacv1.PolicyRule // "NAMESPACE/NAME"
	crbs         []rbacv1.ClusterRoleBinding
	rbs          []rbacv1.RoleBinding
}

func load(ctx context.Context, c kubernetes.Interface) (*graph, error) {
	g := &graph{clusterRoles: map[string][]rbacv1.PolicyRule{}, roles: map[string][]rbacv1.PolicyRule{}}
	rb := c.RbacV1()
	err := errors.Join(
		pages(ctx, "clusterroles", func(o metav1.ListOptions) (string, error) {
			l, err := rb.ClusterRoles().List(ctx, o)
			if err == nil {
				for _, r := range l.Items {
					g.clusterRoles[r.Name] = r.Rules
				}
			}
			return continueOf(l, err)
		}),
		pages(ctx, "roles", func(o metav1.ListOptions) (string, error) {
			l, err := rb.Roles("").List(ctx, o)
			if err == nil {
				for _, r := range l.Items {
					g.roles[r.Namespace+"/"+r.Name] = r.Rules
				}
			}
			return continueOf(l, err)
		}),
		pages(ctx, "clusterrolebindings", func(o metav1.ListOptions) (string, error) {
			l, err := rb.ClusterRoleBindings().List(ctx, o)
			if err == nil {
				g.crbs = append(g.crbs, l.Items...)
			}
			return continueOf(l, err)
		}),
		pages(ctx, "rolebindings", func(o metav1.ListOptions) (string, error) {
			l, err := rb.RoleBindings("").List(ctx, o)
			if err == nil {
				g.rbs = append(g.rbs, l.Items...)
			}
			return continueOf(l, err)
		}),
	)
	if err != nil {
		return nil, err
	}
	return g, nil
}

// pages calls list with each page's continue token until the last page.
func pages(ctx context.Context, what string, list func(metav1.ListOptions) (string, error)) error {
	o := metav1.ListOptions{Limit: 500}
	for {
		cont, err := list(o)
		if err != nil {
			return fmt.Errorf("list %s: %w", what, err)
		}
		if o.Continue = cont; cont == "" || ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

func continueOf(l interface{ GetContinue() string }, err error) (string, error) {
	if err != nil {
		return "", err
	}
	return l.GetContinue(), nil
}

// grant is one verb on one resource (or one object of it), in one
// namespace or everywhere ("*"), and the binding that gives it.
type grant struct {
	Scope, Group, Resource, Verb, Name string
	Via                                string
}

func bootstrap(m metav1.ObjectMeta) bool {
	return m.Labels["kubernetes.io/bootstrapping"] == "rbac-defaults"
}

// boundTo says whether subject s (of a binding in bindingNS) is the
// service account ns/sa or a group it is in.
func boundTo(s rbacv1.Subject, bindingNS, ns, sa string) bool {
	switch s.Kind {
	case rbacv1.ServiceAccountKind:
		sns := s.Namespace
		if sns == "" {
			sns = bindingNS
		}
		return sns == ns && s.Name == sa
	case rbacv1.UserKind:
		return s.Name == "system:serviceaccount:"+ns+":"+sa
	case rbacv1.GroupKind:
		return s.Name == "system:serviceaccounts" || s.Name == "system:serviceaccounts:"+ns || s.Name == "system:authenticated"
	}
	return false
}

// grantsOf expands every rule bound to the service account into grants.
func (g *graph) grantsOf(ns, sa string) []grant {
	var out []grant
	add := func(scope, via string, rs []rbacv1.PolicyRule) {
		for _, r := range rs {
			for _, u := range r.NonResourceURLs {
				for _, v := range r.Verbs {
					out = append(out, grant{Scope: scope, Resource: "url:" + u, Verb: v, Via: via})
				}
			}
			names := r.ResourceNames
			if len(names) == 0 {
				names = []string{""}
			}
			for _, gr := range r.APIGroups {
				for _, res := range r.Resources {
					for _, v := range r.Verbs {
						for _, n := range names {
							out = append(out, grant{Scope: scope, Group: gr, Resource: res, Verb: v, Name: n, Via: via})
						}
					}
				}
			}
		}
	}
	for _, b := range g.crbs {
		if bootstrap(b.ObjectMeta) || !anyBound(b.Subjects, "", ns, sa) {
			continue
		}
		add("*", "ClusterRoleBinding "+b.Name+" -> ClusterRole "+b.RoleRef.Name, g.clusterRoles[b.RoleRef.Name])
	}
	for _, b := range g.rbs {
		if bootstrap(b.ObjectMeta) || !anyBound(b.Subjects, b.Namespace, ns, sa) {
			continue
		}
		via := "RoleBinding " + b.Namespace + "/" + b.Name + " -> " + b.RoleRef.Kind + " " + b.RoleRef.Name
		if b.RoleRef.Kind == "ClusterRole" {
			add(b.Namespace, via, g.clusterRoles[b.RoleRef.Name])
		} else {
			add(b.Namespace, via, g.roles[b.Namespace+"/"+b.RoleRef.Name])
		}
	}
	return out
}

func anyBound(ss []rbacv1.Subject, bindingNS, ns, sa string) bool {
	for _, s := range ss {
		if boundTo(s, bindingNS, ns, sa) {
			return true
		}
	}
	return false
}

func has(list []string, v string) bool {
	for _, x := range list {
		if x == v || x == "*" {
			return true
		}
	}
	return false
}

// declaredCovers says whether the declaration allows live grant g: a grant
// everywhere only by a declaration for everywhere, a grant on every object
// of a resource only by one without names.
func declaredCovers(d rules.RBACRule, g grant) bool {
	return (d.Namespace == "*" || (g.Scope != "*" && d.Namespace == g.Scope)) &&
		has(d.APIGroups, g.Group) && has(d.Resources, g.Resource) && has(d.Verbs, g.Verb) &&
		(len(d.Names) == 0 || (g.Name != "" && has(d.Names, g.Name)))
}

// liveCovers says whether live grant g gives declared atom a.
func liveCovers(g grant, a grant) bool {
	eq := func(live, want string) bool { return live == "*" || live == want }
	return (g.Scope == "*" || g.Scope == a.Scope) && eq(g.Group, a.Group) && eq(g.Resource, a.Resource) &&
		eq(g.Verb, a.Verb) && (g.Name == "" || g.Name == a.Name)
}

func (s *Scanner) compare(id *rules.Identity, live []grant) []finding.Finding {
	var out []finding.Finding
	who := "serviceaccount " + id.Namespace + "/" + id.ServiceAccount
	resource := "kubernetes:" + id.Cluster + " " + who
	// Excess: live grants no declaration allows, grouped by what they
	// reach (scope, group, resource, object) with their verbs and bindings.
	type key struct{ scope, group, resource, name string }
	excess := map[key]map[string]bool{}
	vias := map[key]map[string]bool{}
	for _, g := range live {
		covered := false
		for _, d := range id.RBAC {
			covered = covered || declaredCovers(d, g)
		}
		if covered {
			continue
		}
		k := key{g.Scope, g.Group, g.Resource, g.Name}
		if excess[k] == nil {
			excess[k], vias[k] = map[string]bool{}, map[string]bool{}
		}
		excess[k][g.Verb], vias[k][g.Via] = true, true
	}
	for k, verbs := range excess {
		vs, via := sorted(verbs), sorted(vias[k])
		sev := finding.Medium
		if k.resource == "secrets" || k.resource == "*" || has(vs, "*") || k.scope == "*" {
			sev = finding.High
		}
		what := describe(k.group, k.resource, k.name, k.scope)
		kind := finding.KindIAMRBACExcess
		out = append(out, finding.Finding{
			ID:   finding.Fingerprint(kind, id.Cluster, id.Namespace, id.ServiceAccount, k.scope, k.group, k.resource, k.name, strings.Join(vs, ",")),
			Kind: kind, Severity: sev, Scanner: "rbac", Resource: resource,
			Title:  fmt.Sprintf("%s (%s) may %s %s beyond its declaration", who, id.Name, strings.Join(vs, ", "), what),
			Detail: fmt.Sprintf("Granted by %s; %s:%d declares no such permission. Narrow the role or the binding, or declare the need.", strings.Join(via, "; "), id.File, id.Line),
			Status: finding.StatusOpen,
			Evidence: finding.Evidence{"cluster": id.Cluster, "principal": who, "identity": id.Name, "grant": strings.Join(vs, ",") + " " + what,
				"binding": strings.Join(via, "; "), "scope": k.scope},
			Controls: s.Controls.For(kind),
		})
	}
	// Missing: declared permissions no live grant gives.
	for i, d := range id.RBAC {
		names := d.Names
		if len(names) == 0 {
			names = []string{""}
		}
		var missing []string
		for _, gr := range d.APIGroups {
			for _, res := range d.Resources {
				for _, n := range names {
					for _, v := range d.Verbs {
						a := grant{Scope: d.Namespace, Group: gr, Resource: res, Verb: v, Name: n}
						ok := false
						for _, g := range live {
							ok = ok || liveCovers(g, a)
						}
						if !ok {
							missing = append(missing, v+" "+describe(gr, res, n, d.Namespace))
						}
					}
				}
			}
		}
		if len(missing) == 0 {
			continue
		}
		kind := finding.KindIAMRBACMissing
		out = append(out, finding.Finding{
			ID:   finding.Fingerprint(kind, id.Cluster, id.Namespace, id.ServiceAccount, fmt.Sprint(i), strings.Join(missing, ";")),
			Kind: kind, Severity: finding.Medium, Scanner: "rbac", Resource: resource,
			Title:    fmt.Sprintf("%s (%s) lacks declared permission: %s", who, id.Name, strings.Join(missing, "; ")),
			Detail:   fmt.Sprintf("%s:%d declares it (rbac[%d]), but no Role or ClusterRole bound to the service account gives it: the job fails when it needs it, or the declaration is stale.", id.File, id.Line, i),
			Status:   finding.StatusOpen,
			Evidence: finding.Evidence{"cluster": id.Cluster, "principal": who, "identity": id.Name, "missing": strings.Join(missing, "; ")},
			Controls: s.Controls.For(kind),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func describe(group, resource, name, scope string) string {
	r := resource
	if group != "" && group != "*" {
		r += "." + group
	}
	if name != "" {
		r += "/" + name
	}
	if scope == "*" {
		return r + " in every namespace"
	}
	return r + " in " + scope
}

func sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
