package kubernetes

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/stores"
)

// External Secrets Operator's objects are read with the dynamic client, in
// whichever of its API versions the cluster serves (v1, or v1beta1 on
// older installations: the fields vigil reads are the same in both), so
// vigil neither imports ESO's Go module nor breaks on its upgrades.
const esoGroup = "external-secrets.io"

type eso struct {
	s       *Store
	version string
	cluster map[string]provider // ClusterSecretStores by name
}

// provider is the part of a SecretStore's spec.provider that maps a remote
// key to a vigil path.
type provider struct {
	kind   string // vault, aws, gcpsm, azurekv, ...
	path   func(key string) string
	server string
}

type externalSecret struct {
	name, ns, target string
	refresh          string   // spec.refreshInterval ("1h"; "0" syncs once)
	remote           []string // remote keys, as vigil paths where the store is known, else "STORE KIND: key"
	entries          []esEntry
}

// from says where the copy comes from and how often ESO refreshes it.
func (e *externalSecret) from() string {
	s := strings.Join(e.remote, ", ")
	switch e.refresh {
	case "":
	case "0", "0s":
		s += ", synced once"
	default:
		s += ", every " + e.refresh
	}
	return s
}

func (s *Store) gvr(version, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: esoGroup, Version: version, Resource: resource}
}

// openESO finds ESO's API version; nil when ESO is not installed. The
// ClusterSecretStores are read once per listing.
func (s *Store) openESO(ctx context.Context) (*eso, error) {
	if s.dyn == nil {
		return nil, nil
	}
	e := &eso{s: s, cluster: map[string]provider{}}
	for _, v := range []string{"v1", "v1beta1"} {
		_, err := s.core.Discovery().ServerResourcesForGroupVersion(esoGroup + "/" + v)
		if err == nil {
			e.version = v
			break
		}
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("external secrets: discover %s/%s: %w", esoGroup, v, scrub(err))
		}
	}
	if e.version == "" {
		return nil, nil
	}
	err := s.each(ctx, s.gvr(e.version, "clustersecretstores"), "", func(o *unstructured.Unstructured) {
		e.cluster[o.GetName()] = providerOf(o)
	})
	if err != nil {
		return e, fmt.Errorf("external secrets: cluster secret stores: %w", scrub(err))
	}
	return e, nil
}

// each lists a resource in ns ("" for cluster-wide), page by page.
func (s *Store) each(ctx context.Context, gvr schema.GroupVersionResource, ns string, fn func(*unstructured.Unstructured)) error {
	opts := metav1.ListOptions{Limit: int64(s.page)}
	for {
		var l *unstructured.UnstructuredList
		var err error
		if ns == "" {
			l, err = s.dyn.Resource(gvr).List(ctx, opts)
		} else {
			l, err = s.dyn.Resource(gvr).Namespace(ns).List(ctx, opts)
		}
		if err != nil {
			return err
		}
		for i := range l.Items {
			fn(&l.Items[i])
		}
		if opts.Continue = l.GetContinue(); opts.Continue == "" {
			return nil
		}
	}
}

func str(o map[string]any, fields ...string) string {
	v, _, _ := unstructured.NestedString(o, fields...)
	return v
}

// providerOf maps a (Cluster)SecretStore's provider to vigil's declared
// paths: Vault KV (vault:MOUNT/PATH), AWS Secrets Manager (awssm:NAME),
// Google Secret Manager (gcpsm:PROJECT/NAME), Azure Key Vault
// (azkv:VAULT/NAME). Another provider's keys are kept as they are, with
// no path: no vigil store lists them.
func providerOf(o *unstructured.Unstructured) provider {
	spec, _, _ := unstructured.NestedMap(o.Object, "spec", "provider")
	for kind := range spec {
		p := provider{kind: kind}
		switch kind {
		case "vault":
			mount := strings.Trim(str(spec, "vault", "path"), "/")
			p.server = str(spec, "vault", "server")
			p.path = func(key string) string {
				key = strings.Trim(key, "/")
				if mount == "" {
					return "vault:" + key
				}
				return "vault:" + mount + "/" + strings.TrimPrefix(key, mount+"/")
			}
		case "aws":
			if svc := str(spec, "aws", "service"); svc == "SecretsManager" {
				p.server = "aws " + str(spec, "aws", "region")
				p.path = func(key string) string {
					if strings.HasPrefix(key, "arn:") {
						return ""
					}
					return "awssm:" + key
				}
			}
		case "gcpsm":
			project := str(spec, "gcpsm", "projectID")
			p.path = func(key string) string { return "gcpsm:" + project + "/" + key }
		case "azurekv":
			if u, err := url.Parse(str(spec, "azurekv", "vaultUrl")); err == nil && u.Host != "" {
				vault, _, _ := strings.Cut(u.Host, ".")
				p.path = func(key string) string { return "azkv:" + vault + "/" + strings.TrimPrefix(key, "secret/") }
			}
		}
		return p
	}
	return provider{}
}

// lookup resolves an ExternalSecret's store reference (kind SecretStore,
// the default, or ClusterSecretStore) to a provider: where (for messages),
// and whether it is known.
type lookup func(ref map[string]any, def string) (where string, p provider, known bool)

// lookupIn returns the lookup for ExternalSecrets of namespace ns.
func (e *eso) lookupIn(ctx context.Context, ns string) (lookup, error) {
	local := map[string]provider{}
	if err := e.s.each(ctx, e.s.gvr(e.version, "secretstores"), ns, func(o *unstructured.Unstructured) {
		local[o.GetName()] = providerOf(o)
	}); err != nil {
		return nil, fmt.Errorf("secret stores: %w", err)
	}
	return func(ref map[string]any, def string) (string, provider, bool) {
		name, kind := str(ref, "name"), str(ref, "kind")
		if name == "" {
			name = def
		}
		if kind == "ClusterSecretStore" {
			p, ok := e.cluster[name]
			return "ClusterSecretStore " + name, p, ok
		}
		p, ok := local[name]
		return "SecretStore " + ns + "/" + name, p, ok
	}, nil
}

// esEntry is one value an ExternalSecret copies: from path (a declared
// path; "" when no vigil store has the provider) and property (the field
// inside it; "" for every field, as dataFrom.extract copies them) into key
// of the target Secret ("" for dataFrom: each field under its own name).
type esEntry struct {
	path, property, key string
	where               string
}

// parseES reads an ExternalSecret: its target and what it copies.
func parseES(o *unstructured.Unstructured, look lookup) *externalSecret {
	spec, _, _ := unstructured.NestedMap(o.Object, "spec")
	es := &externalSecret{name: o.GetName(), ns: o.GetNamespace(), target: str(spec, "target", "name"), refresh: str(spec, "refreshInterval")}
	if es.target == "" {
		es.target = es.name
	}
	storeRef, _, _ := unstructured.NestedMap(spec, "secretStoreRef")
	defStore := str(storeRef, "name")
	add := func(ref map[string]any, remote, property, key string) {
		if remote == "" {
			return
		}
		if ref == nil {
			ref = storeRef
		}
		where, p, known := look(ref, defStore)
		path := ""
		if known && p.path != nil {
			path = p.path(remote)
		}
		if path == "" {
			es.remote = append(es.remote, where+": "+remote)
		} else {
			es.remote = append(es.remote, path)
		}
		es.entries = append(es.entries, esEntry{path: path, property: property, key: key, where: where})
	}
	data, _, _ := unstructured.NestedSlice(spec, "data")
	for _, d := range data {
		m, _ := d.(map[string]any)
		ref, _, _ := unstructured.NestedMap(m, "sourceRef", "storeRef")
		add(ref, str(m, "remoteRef", "key"), str(m, "remoteRef", "property"), str(m, "secretKey"))
	}
	from, _, _ := unstructured.NestedSlice(spec, "dataFrom")
	for _, d := range from {
		m, _ := d.(map[string]any)
		ref, _, _ := unstructured.NestedMap(m, "sourceRef", "storeRef")
		add(ref, str(m, "extract", "key"), "", "")
	}
	return es
}

// namespace reads the namespace's SecretStores, ExternalSecrets and
// PushSecrets: the Secrets they sync (by target name), the Secrets pushed
// to a store, the references to remote keys, and the syncs that fail.
func (e *eso) namespace(ctx context.Context, ns string, s *Store) (map[string]*externalSecret, map[string]string, error) {
	look, err := e.lookupIn(ctx, ns)
	if err != nil {
		return nil, nil, err
	}
	synced := map[string]*externalSecret{}
	err = s.each(ctx, s.gvr(e.version, "externalsecrets"), ns, func(o *unstructured.Unstructured) {
		es := parseES(o, look)
		seen := map[string]bool{}
		for _, en := range es.entries {
			if en.path != "" && !seen[en.path] {
				seen[en.path] = true
				s.refs = append(s.refs, stores.Reference{Store: s.name, From: "k8s:" + ns + "/" + es.target,
					Path: en.path, Where: "ExternalSecret " + ns + "/" + es.name + " through " + en.where})
			}
		}
		synced[es.target] = es
		s.syncFailed(o, ns, "ExternalSecret", "k8s:"+ns+"/"+es.target)
	})
	if err != nil {
		return synced, nil, fmt.Errorf("external secrets: %w", err)
	}
	pushed := map[string]string{}
	// PushSecret is still v1alpha1 where ExternalSecret is v1.
	err = s.each(ctx, s.gvr("v1alpha1", "pushsecrets"), ns, func(o *unstructured.Unstructured) {
		if name := str(o.Object, "spec", "selector", "secret", "name"); name != "" {
			pushed[name] = o.GetName()
		}
		s.syncFailed(o, ns, "PushSecret", "k8s:"+ns+"/pushsecret/"+o.GetName())
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return synced, pushed, fmt.Errorf("push secrets: %w", err)
	}
	return synced, pushed, nil
}

// syncFailed reports an ExternalSecret or PushSecret whose Ready condition
// is False: the copy is stale or missing, and after a rotation the pods
// keep the old value.
func (s *Store) syncFailed(o *unstructured.Unstructured, ns, kind, resource string) {
	conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if str(m, "type") != "Ready" || str(m, "status") != "False" {
			continue
		}
		reason := str(m, "reason")
		s.reported = append(s.reported, s.finding(finding.KindInvSyncFailed, finding.High, resource,
			fmt.Sprintf("%s %s/%s does not sync (%s)", kind, ns, o.GetName(), reason),
			// The condition's message is left out: for some providers it
			// quotes what the provider answered.
			"External Secrets Operator reports it not ready (kubectl describe shows why). Its Secret is stale or missing, and a rotation of its source will not reach the pods.",
			finding.Evidence{"namespace": ns, "name": o.GetName(), "object": kind, "reason": reason}))
		return
	}
}
