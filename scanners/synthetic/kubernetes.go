package synthetic

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/vigilsec/vigil/internal/ledger"
	"github.com/vigilsec/vigil/rules"
)

// KubernetesIssuer mints bound service-account tokens with the TokenRequest
// API: each is bound to a Secret vigil creates for the check (empty, in the
// identity's namespace, labelled with the ledger id), so deleting that
// Secret revokes the token at once, whatever its expiry. The expiry asked
// is the shortest the API server accepts (10 minutes) or the check's
// length if longer. vigil's own identity needs create on
// serviceaccounts/token for the identities' service accounts, and create
// and delete on secrets in their namespaces.
type KubernetesIssuer struct {
	Cluster string
	Config  *rest.Config
	Client  kubernetes.Interface
}

// Key implements Issuer.
func (k *KubernetesIssuer) Key() string { return "kubernetes:" + k.Cluster }

// minTokenLife is the shortest expiry the API server grants a token.
const minTokenLife = 10 * time.Minute

// ledgerLabel marks the Secret a token is bound to with its ledger row, so
// a crashed run's Secret is found and deleted by the next run.
const ledgerLabel = "vigil.dev/ledger"

// Kubernetes probe actions: reads only. The target is
// RESOURCE[.GROUP]/NAMESPACE[/NAME]: "get secrets/etl/warehouse", "list
// secrets/prod", "list deployments.apps/etl".
var kubeVerbs = map[string]bool{"get": true, "list": true}

type kubeTarget struct {
	gvr       schema.GroupVersionResource
	namespace string
	name      string
}

func parseKubeTarget(t string) (kubeTarget, error) {
	parts := strings.Split(t, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return kubeTarget{}, fmt.Errorf("the target is RESOURCE[.GROUP]/NAMESPACE[/NAME], e.g. secrets/etl/warehouse")
	}
	res, group, _ := strings.Cut(parts[0], ".")
	// v1: every group a read probe is written against (core, apps, batch,
	// rbac.authorization.k8s.io, external-secrets.io) serves it.
	kt := kubeTarget{gvr: schema.GroupVersionResource{Group: group, Version: "v1", Resource: res}, namespace: parts[1]}
	if len(parts) == 3 {
		kt.name = parts[2]
	}
	return kt, nil
}

// validateKubernetes checks a probe of a kubernetes identity.
func validateKubernetes(p rules.Probe) error {
	if !kubeVerbs[p.Action] {
		return fmt.Errorf("probe %q: a Kubernetes probe is get or list (reads only), not %q", p, p.Action)
	}
	kt, err := parseKubeTarget(p.Target)
	if err != nil {
		return fmt.Errorf("probe %q: %v", p, err)
	}
	if p.Action == "get" && kt.name == "" {
		return fmt.Errorf("probe %q: get needs a name (RESOURCE/NAMESPACE/NAME)", p)
	}
	return nil
}

// Issue implements Issuer.
func (k *KubernetesIssuer) Issue(ctx context.Context, id *rules.Identity, rec *ledger.Credential, ttl time.Duration, save func() error) (Credential, error) {
	life := max(ttl, minTokenLife).Round(time.Second)
	bound := "vigil-synthetic-" + strings.ToLower(rec.ID)
	rec.Target = k.Config.Host
	rec.ExpiresAt = time.Now().Add(life)
	rec.Scope = map[string]any{"namespace": id.Namespace, "service_account": id.ServiceAccount, "bound_secret": bound, "expiration": life.String()}
	if err := save(); err != nil {
		return nil, err
	}
	secrets := k.Client.CoreV1().Secrets(id.Namespace)
	obj, err := secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: bound,
		Labels:      map[string]string{ledgerLabel: rec.ID, "app.kubernetes.io/managed-by": "vigil"},
		Annotations: map[string]string{"vigil.dev/purpose": "binds the synthetic check's token of " + id.Name + "; deleting it revokes the token"}}},
		metav1.CreateOptions{})
	if err != nil {
		return nil, kubeIssueErr(id, "create the Secret the token is bound to", err)
	}
	secs := int64(life / time.Second)
	tr, err := k.Client.CoreV1().ServiceAccounts(id.Namespace).CreateToken(ctx, id.ServiceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs,
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: obj.Name, UID: obj.UID}},
	}, metav1.CreateOptions{})
	if err != nil {
		// The Secret alone grants nothing; Revoke deletes it with the row.
		return nil, kubeIssueErr(id, "request a token", err)
	}
	rec.CredentialID = id.Namespace + "/" + bound + "@" + string(obj.UID)
	rec.IssuedAt = time.Now()
	rec.ExpiresAt = tr.Status.ExpirationTimestamp.Time
	cfg := rest.AnonymousClientConfig(k.Config)
	cfg.BearerToken = tr.Status.Token
	cfg.QPS, cfg.Burst = 20, 20
	return newKubeCredential(cfg)
}

func kubeIssueErr(id *rules.Identity, what string, err error) error {
	if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || apierrors.IsInvalid(err) || apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("%w: %s for %s/%s: %s", ErrRefused, what, id.Namespace, id.ServiceAccount, apierrors.ReasonForError(err))
	}
	return fmt.Errorf("%s for %s/%s: %w", what, id.Namespace, id.ServiceAccount, err)
}

type kubeCredential struct {
	meta  metadata.Interface
	core  kubernetes.Interface
	token string // kept for the tests' canary check only; never written
}

func newKubeCredential(cfg *rest.Config) (*kubeCredential, error) {
	m, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &kubeCredential{meta: m, core: c, token: cfg.BearerToken}, nil
}

// Probe makes the read through the metadata client: the API server
// authorises a get or list of Secrets the same way whatever the answer's
// form, and the answer then carries no value.
func (c *kubeCredential) Probe(ctx context.Context, p rules.Probe) Outcome {
	kt, err := parseKubeTarget(p.Target)
	if err != nil {
		return Outcome{Result: Inconclusive, Err: err.Error()}
	}
	r := c.meta.Resource(kt.gvr).Namespace(kt.namespace)
	switch p.Action {
	case "get":
		_, err = r.Get(ctx, kt.name, metav1.GetOptions{})
	case "list":
		_, err = r.List(ctx, metav1.ListOptions{Limit: 1})
	}
	if apierrors.IsNotFound(err) {
		// RBAC is checked before the object is looked up: the call was
		// authorised, but nothing there shows what the job gets.
		return Outcome{Result: Inconclusive, Err: "nothing at " + p.Target + ": declare an object that exists"}
	}
	return classifyKube(err)
}

// Verify asks the API server who the token is (a SelfSubjectReview, which
// every authenticated identity may make): once the bound Secret is gone it
// is refused as unauthenticated. The API server caches a token's
// successful authentication for 10 seconds, so this retries for up to wait
// (synthetic.revoke_wait, 60 s by default).
func (c *kubeCredential) Verify(ctx context.Context, _ []rules.Probe, wait time.Duration) Outcome {
	deadline := time.Now().Add(wait)
	for {
		_, err := c.core.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		out := classifyKube(err)
		if apierrors.IsUnauthorized(err) {
			out = Outcome{Result: Denied, Err: "the token is refused (401)"}
		}
		if out.Result != Allowed || !time.Now().Before(deadline) {
			return out
		}
		select {
		case <-ctx.Done():
			return Outcome{Result: Inconclusive, Err: ctx.Err().Error()}
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func classifyKube(err error) Outcome {
	switch {
	case err == nil:
		return Outcome{Result: Allowed}
	case apierrors.IsForbidden(err):
		return Outcome{Result: Denied, Err: truncate(string(apierrors.ReasonForError(err)) + ": RBAC refused the call")}
	}
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return Outcome{Result: Inconclusive, Err: truncate(fmt.Sprintf("%s (%d)", se.Status().Reason, se.Status().Code))}
	}
	return Outcome{Result: Inconclusive, Err: truncate(err.Error())}
}

// Revoke implements Issuer: the bound Secret is deleted, which invalidates
// every token bound to it. It is found by the ledger label, so a row left
// between the intent and the answer is revoked the same way.
func (k *KubernetesIssuer) Revoke(ctx context.Context, rec *ledger.Credential) error {
	ns, _ := rec.Scope["namespace"].(string)
	if ns == "" {
		return fmt.Errorf("ledger row %s names no namespace", rec.ID)
	}
	secrets := k.Client.CoreV1().Secrets(ns)
	l, err := secrets.List(ctx, metav1.ListOptions{LabelSelector: ledgerLabel + "=" + rec.ID})
	if err != nil {
		return fmt.Errorf("find the Secret bound to the token of %s: %w", rec.Identity, err)
	}
	for _, s := range l.Items {
		if err := secrets.Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete %s/%s (revokes the token of %s): %w", ns, s.Name, rec.Identity, err)
		}
	}
	rec.Revocation = map[string]any{"method": "delete the bound Secret", "deleted": len(l.Items)}
	return nil
}

// Cleanup implements Issuer: a deleted Secret leaves nothing behind.
func (k *KubernetesIssuer) Cleanup(context.Context, *ledger.Credential, time.Time) (bool, error) {
	return true, nil
}
