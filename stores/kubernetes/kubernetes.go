// Package kubernetes inventories the Secrets of Kubernetes clusters through
// client-go, from metadata alone unless values are hashed: each namespace's
// Secrets are listed in the API server's Table form with only their object
// metadata (name, type, key count, labels, owner references and
// managedFields, which name each key of data and when it last changed), so
// no Secret's data leaves the API server. With hash_values on, Secrets are
// listed whole and each value is hashed at once and dropped.
//
// Secrets that the platform makes (service-account tokens, Helm release
// records, bootstrap tokens) and the copies External Secrets Operator or
// the Sealed Secrets controller keep are classified (stores.Secret.ManagedBy),
// so they are not called undeclared; External Secrets Operator's objects
// (eso.go) say which remote key each copy comes from. Declared paths are
// k8s:NAMESPACE/NAME/KEY.
package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/vigilsec/vigil/internal/finding"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/stores"
)

// pageSize is the API server's page: big enough that a namespace of a few
// hundred Secrets is one request, small enough to keep each answer short.
const pageSize = 500

// Store is one cluster.
type Store struct {
	name       string // "kubernetes:NAME"
	core       kubernetes.Interface
	dyn        dynamic.Interface
	namespaces []string // globs
	hasher     stores.Hasher
	controls   rules.Controls
	// reportGenerated lists the platform's own Secrets (service-account
	// tokens, Helm releases) as ordinary secrets, undeclared if not declared.
	reportGenerated bool
	page            int // the page size asked of the API server

	// What the last List found besides the secrets.
	covers   []string
	reported []finding.Finding
	refs     []stores.Reference
}

// New returns the store of one cluster.
func New(name string, core kubernetes.Interface, dyn dynamic.Interface, namespaces []string, reportGenerated bool, hasher stores.Hasher, controls rules.Controls) *Store {
	if len(namespaces) == 0 {
		namespaces = []string{"*"}
	}
	return &Store{name: "kubernetes:" + name, core: core, dyn: dyn, namespaces: namespaces, reportGenerated: reportGenerated, hasher: hasher, controls: controls, page: pageSize}
}

// Name implements stores.Store.
func (s *Store) Name() string { return s.name }

// Covers implements stores.Store: the namespaces the last List looked at.
func (s *Store) Covers() []string { return s.covers }

// Reported returns what the last List found wrong besides the listing:
// ExternalSecrets and PushSecrets whose sync fails, hand-made Secrets
// among ESO-managed ones.
func (s *Store) Reported() []finding.Finding { return s.reported }

// References returns the remote keys the cluster's ExternalSecrets copy,
// as vigil paths, for the inventory scanner to check against the stores it
// lists.
func (s *Store) References() []stores.Reference { return s.refs }

// secret is what vigil reads of one Secret: never its data.
type secret struct {
	meta metav1.ObjectMeta
	typ  corev1.SecretType
	keys map[string]time.Time // key -> last change (zero: unknown)
	n    int                  // number of keys the API server counts
	// hashes are the keyed hashes of its values by key (values hashed).
	hashes map[string]stores.ValueHash
}

// List implements stores.Store. A namespace that can't be read (403: the
// service account may not list there) is named in the error and the other
// namespaces are still listed.
func (s *Store) List(ctx context.Context, emit func(stores.Secret)) error {
	s.covers, s.reported, s.refs = nil, nil, nil
	nss, err := s.matchNamespaces(ctx)
	if err != nil {
		return fmt.Errorf("%s: list namespaces: %w", s.name, err)
	}
	eso, esoErr := s.openESO(ctx)
	var errs []error
	if esoErr != nil {
		errs = append(errs, esoErr)
	}
	sealed, err := s.sealedServed()
	if err != nil {
		errs = append(errs, fmt.Errorf("sealed secrets: %w", scrub(err)))
	}
	for _, ns := range nss {
		s.covers = append(s.covers, "k8s:"+ns+"/")
		secrets, err := s.listNamespace(ctx, ns)
		if err != nil {
			errs = append(errs, fmt.Errorf("namespace %s: %w", ns, scrub(err)))
			continue
		}
		var synced map[string]*externalSecret
		var pushed map[string]string
		if eso != nil {
			var err error
			if synced, pushed, err = eso.namespace(ctx, ns, s); err != nil {
				errs = append(errs, fmt.Errorf("namespace %s: external secrets: %w", ns, scrub(err)))
			}
		}
		if err := s.emitNamespace(ns, secrets, synced, pushed, emit); err != nil {
			errs = append(errs, fmt.Errorf("namespace %s: %w", ns, err))
		}
		if sealed {
			if err := s.listSealed(ctx, ns, emit); err != nil {
				errs = append(errs, fmt.Errorf("namespace %s: sealed secrets: %w", ns, scrub(err)))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	return nil
}

// scrub keeps an API error's reason and drops its body, which for some
// errors quotes the request.
func scrub(err error) error {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		st := se.Status()
		switch {
		case apierrors.IsForbidden(err):
			return fmt.Errorf("forbidden (%d): the service account may not list here", st.Code)
		case apierrors.IsUnauthorized(err):
			return fmt.Errorf("unauthorized (%d): the credential was refused", st.Code)
		}
		return fmt.Errorf("%s (%d)", st.Reason, st.Code)
	}
	return err
}

// Named returns namespaces when each is a name, not a glob: they are read
// as given, without listing the cluster's namespaces (which needs a
// permission of its own). Nil when any is a glob, or none is given (every
// namespace).
func Named(namespaces []string) []string {
	for _, p := range namespaces {
		if strings.ContainsAny(p, "*?[") {
			return nil
		}
	}
	return append([]string(nil), namespaces...)
}

// matchNamespaces lists the namespaces the globs match (names are taken as
// they are, without listing namespaces).
func (s *Store) matchNamespaces(ctx context.Context) ([]string, error) {
	if named := Named(s.namespaces); len(named) > 0 {
		return named, nil
	}
	var out []string
	opts := metav1.ListOptions{Limit: int64(s.page)}
	for {
		l, err := s.core.CoreV1().Namespaces().List(ctx, opts)
		if err != nil {
			return nil, scrub(err)
		}
		for _, n := range l.Items {
			if rules.MatchAny(s.namespaces, n.Name) {
				out = append(out, n.Name)
			}
		}
		if opts.Continue = l.Continue; opts.Continue == "" {
			break
		}
	}
	sort.Strings(out)
	return out, nil
}

// listNamespace reads the namespace's Secrets, page by page: metadata only
// (the Table form), or whole when values are hashed (each value hashed at
// once and the Secret's data dropped).
func (s *Store) listNamespace(ctx context.Context, ns string) ([]secret, error) {
	if s.hasher != nil {
		return s.listHashed(ctx, ns)
	}
	var out []secret
	cont := ""
	for {
		raw, err := s.core.CoreV1().RESTClient().Get().Namespace(ns).Resource("secrets").
			Param("limit", strconv.Itoa(s.page)).Param("continue", cont).Param("includeObject", "Metadata").
			SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").Do(ctx).Raw()
		if err != nil {
			return nil, err
		}
		var table metav1.Table
		if err := json.Unmarshal(raw, &table); err != nil {
			return nil, fmt.Errorf("read the Table answer: %w", err)
		}
		col := map[string]int{}
		for i, c := range table.ColumnDefinitions {
			col[c.Name] = i
		}
		for _, row := range table.Rows {
			var m metav1.PartialObjectMetadata
			if err := json.Unmarshal(row.Object.Raw, &m); err != nil {
				return nil, fmt.Errorf("read a row's metadata: %w", err)
			}
			sec := secret{meta: m.ObjectMeta, keys: fieldKeys(m.ManagedFields)}
			if i, ok := col["Type"]; ok && i < len(row.Cells) {
				t, _ := row.Cells[i].(string)
				sec.typ = corev1.SecretType(t)
			}
			sec.n = len(sec.keys)
			if i, ok := col["Data"]; ok && i < len(row.Cells) {
				if f, ok := row.Cells[i].(float64); ok {
					sec.n = int(f)
				}
			}
			out = append(out, sec)
		}
		if cont = table.Continue; cont == "" {
			return out, nil
		}
	}
}

func (s *Store) listHashed(ctx context.Context, ns string) ([]secret, error) {
	var out []secret
	opts := metav1.ListOptions{Limit: int64(s.page)}
	for {
		l, err := s.core.CoreV1().Secrets(ns).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for i := range l.Items {
			item := &l.Items[i]
			sec := secret{meta: item.ObjectMeta, typ: item.Type, keys: fieldKeys(item.ManagedFields), n: len(item.Data)}
			hashes := map[string]stores.ValueHash{}
			for k, v := range item.Data {
				if _, ok := sec.keys[k]; !ok {
					sec.keys[k] = time.Time{}
				}
				hashes[k] = stores.ValueHash{Version: item.ResourceVersion, Field: k, Current: true, Hash: s.hasher.Hash(string(v))}
				item.Data[k] = nil
			}
			item.Data, item.StringData = nil, nil
			sec.hashes = hashes
			out = append(out, sec)
		}
		if opts.Continue = l.Continue; opts.Continue == "" {
			return out, nil
		}
	}
}

// fieldKeys reads the keys of a Secret's data from its managedFields (each
// field manager's set names the keys it wrote, as "f:KEY" under "f:data"
// or "f:stringData"), with the time each last changed.
func fieldKeys(mf []metav1.ManagedFieldsEntry) map[string]time.Time {
	keys := map[string]time.Time{}
	for _, e := range mf {
		if e.FieldsV1 == nil {
			continue
		}
		var set map[string]json.RawMessage
		if json.Unmarshal(e.FieldsV1.Raw, &set) != nil {
			continue
		}
		for _, field := range []string{"f:data", "f:stringData"} {
			var data map[string]json.RawMessage
			if json.Unmarshal(set[field], &data) != nil {
				continue
			}
			for k := range data {
				name, ok := strings.CutPrefix(k, "f:")
				if !ok {
					continue
				}
				var at time.Time
				if e.Time != nil {
					at = e.Time.Time
				}
				if at.After(keys[name]) || keys[name].IsZero() {
					keys[name] = at
				}
			}
		}
	}
	return keys
}

// generated says why a Secret is the platform's own rather than one
// somebody should declare, or "".
func generated(typ corev1.SecretType) string {
	switch typ {
	case corev1.SecretTypeServiceAccountToken:
		return "service-account token (made by Kubernetes)"
	case corev1.SecretTypeBootstrapToken:
		return "bootstrap token (made by the cluster's installer)"
	case "helm.sh/release.v1":
		return "Helm release record (made by Helm)"
	}
	return ""
}

// emitNamespace emits one stores.Secret per key, classified, and reports
// hand-made Secrets in a namespace whose other Secrets ESO manages. A
// Secret whose keys it can't name makes the error.
func (s *Store) emitNamespace(ns string, secrets []secret, synced map[string]*externalSecret, pushed map[string]string, emit func(stores.Secret)) error {
	var errs []error
	managedByESO := false
	for _, sec := range secrets {
		if synced[sec.meta.Name] != nil || ownedBy(sec.meta, "ExternalSecret") != "" {
			managedByESO = true
		}
	}
	for _, sec := range secrets {
		managedBy := ""
		switch es := synced[sec.meta.Name]; {
		case es != nil:
			managedBy = "ExternalSecret " + ns + "/" + es.name + " (synced from " + es.from() + ")"
		case ownedBy(sec.meta, "ExternalSecret") != "":
			managedBy = "ExternalSecret " + ns + "/" + ownedBy(sec.meta, "ExternalSecret")
		case ownedBy(sec.meta, "SealedSecret") != "":
			managedBy = "SealedSecret " + ns + "/" + ownedBy(sec.meta, "SealedSecret") + " (declared as sealed:" + ns + "/" + sec.meta.Name + "/KEY)"
		case !s.reportGenerated:
			managedBy = generated(sec.typ)
		}
		if managedBy == "" && managedByESO && generated(sec.typ) == "" && pushed[sec.meta.Name] == "" {
			s.unmanaged(ns, sec)
		}
		owner, env, rot := labelled(sec.meta.Labels, sec.meta.Annotations)
		keys := make([]string, 0, len(sec.keys))
		for k := range sec.keys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if len(keys) < sec.n {
			// managedFields were stripped (some tools do): the keys can't be
			// named without reading data. The listing is incomplete; say so
			// rather than call a declared key missing.
			errs = append(errs, fmt.Errorf("secret %s/%s: %d of its %d keys are not named in its metadata (managedFields removed): "+
				"turn on inventory.hash_values, or re-apply it so the API server records its fields", ns, sec.meta.Name, sec.n-len(keys), sec.n))
		}
		for _, k := range keys {
			out := stores.Secret{
				Path: "k8s:" + ns + "/" + sec.meta.Name + "/" + k, Store: s.name,
				Where: where(ns, sec),
				Owner: owner, Env: env, RotationDays: rot, ManagedBy: managedBy,
				Created: sec.meta.CreationTimestamp.Time, Updated: sec.keys[k],
			}
			if h, ok := sec.hashes[k]; ok {
				out.Hashes = []stores.ValueHash{h}
			}
			emit(out)
		}
	}
	return errors.Join(errs...)
}

// where names a Secret for a person: namespace, name, type, and what its
// labels say manages it.
func where(ns string, sec secret) string {
	w := "secret " + ns + "/" + sec.meta.Name + " (" + string(sec.typ)
	if m := sec.meta.Labels["app.kubernetes.io/managed-by"]; m != "" {
		w += ", managed by " + m
	}
	return w + ")"
}

func ownedBy(m metav1.ObjectMeta, kind string) string {
	for _, o := range m.OwnerReferences {
		if o.Kind == kind {
			return o.Name
		}
	}
	return ""
}

// labelled reads owner, env and rotation_days from labels or annotations
// (plain or under vigil.dev/).
func labelled(labels, annotations map[string]string) (owner, env string, rot int) {
	get := func(k string) string {
		for _, m := range []map[string]string{annotations, labels} {
			for _, key := range []string{"vigil.dev/" + k, k} {
				if v := m[key]; v != "" {
					return v
				}
			}
		}
		return ""
	}
	rot, _ = strconv.Atoi(get("rotation_days"))
	return get("owner"), get("env"), rot
}

func (s *Store) unmanaged(ns string, sec secret) {
	s.reported = append(s.reported, s.finding(finding.KindInvUnmanaged, finding.Medium, "k8s:"+ns+"/"+sec.meta.Name,
		fmt.Sprintf("Secret %s/%s is made by hand among Secrets External Secrets Operator manages", ns, sec.meta.Name),
		"The other Secrets of this namespace are synced from a secret store; this one is not, so it is rotated by nobody and audited nowhere. Move its value to the store and sync it with an ExternalSecret.",
		finding.Evidence{"namespace": ns, "name": sec.meta.Name, "type": string(sec.typ)}))
}

func (s *Store) finding(kind finding.Kind, sev finding.Severity, resource, title, detail string, ev finding.Evidence) finding.Finding {
	ev["store"] = s.name
	return finding.Finding{
		ID: finding.Fingerprint(kind, s.name, resource), Kind: kind, Severity: sev, Scanner: "inventory", Resource: resource,
		Title: title, Detail: detail, Status: finding.StatusOpen, Evidence: ev, Controls: s.controls.For(kind),
	}
}
