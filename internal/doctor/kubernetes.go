package doctor

import (
	"context"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/wiring"
	kstore "github.com/vigilsec/vigil/stores/kubernetes"
)

// kubernetesChecks reaches each cluster and asks the API server, with
// SelfSubjectAccessReviews (which change nothing), whether vigil's
// identity may list what the inventory lists.
func kubernetesChecks(ctx context.Context, e *wiring.Env) []Check {
	inv := e.Config.Inventory
	if inv == nil {
		return nil
	}
	var out []Check
	for _, k := range inv.Kubernetes {
		out = append(out, kubernetesCluster(ctx, k)...)
	}
	return out
}

func kubernetesCluster(ctx context.Context, k config.KubernetesCluster) []Check {
	target := "kubernetes:" + k.Name
	rc, err := kstore.RESTConfig(k)
	var c *kubernetes.Clientset
	if err == nil {
		c, err = kubernetes.NewForConfig(rc)
	}
	if err != nil {
		return []Check{{Area: "kubernetes", Target: target, What: "client", Status: Failed, Detail: err.Error()}}
	}
	reach := Check{Area: "kubernetes", Target: target, What: "reach the API server", Status: OK}
	v, err := c.Discovery().ServerVersion()
	if err != nil {
		reach.Status, reach.Detail = Unreachable, err.Error()
		if apierrors.IsUnauthorized(err) {
			reach.Status, reach.Detail = Failed, "authentication: the credential was refused"
		}
		return []Check{reach}
	}
	reach.Detail = v.GitVersion
	out := []Check{reach}
	may := func(what, ns, group, resource string) {
		ch := Check{Area: "kubernetes", Target: target, What: what, Status: OK}
		r, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns, Verb: "list", Group: group, Resource: resource}}}, metav1.CreateOptions{})
		switch {
		case err != nil:
			ch.Status, ch.Detail = Failed, err.Error()
		case !r.Status.Allowed:
			ch.Status, ch.Detail = Missing, "list "+resource+" (examples/kubernetes/vigil-clusterrole.yaml)"
		}
		out = append(out, ch)
	}
	named := kstore.Named(k.Namespaces)
	if len(named) == 0 {
		may("list namespaces", "", "", "namespaces")
		may("list secrets in every namespace", "", "", "secrets")
		may("list ExternalSecrets in every namespace", "", "external-secrets.io", "externalsecrets")
		return out
	}
	for _, ns := range named {
		may("list secrets in "+ns, ns, "", "secrets")
		may("list ExternalSecrets in "+ns, ns, "external-secrets.io", "externalsecrets")
	}
	return out
}
