package kubernetes

import (
	"context"
	"fmt"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/stores"
)

// Open opens a store per inventory.kubernetes entry. A cluster whose
// configuration can't be loaded is a failed store (named, its namespaces
// not called missing), and the others still open.
func Open(_ context.Context, d stores.Deps) ([]stores.Store, error) {
	inv := d.Config().Inventory
	if inv == nil {
		return nil, nil
	}
	var out []stores.Store
	for _, k := range inv.Kubernetes {
		rc, err := RESTConfig(k)
		if err == nil {
			var core *kubernetes.Clientset
			var dyn *dynamic.DynamicClient
			if core, err = kubernetes.NewForConfig(rc); err == nil {
				dyn, err = dynamic.NewForConfig(rc)
			}
			if err == nil {
				out = append(out, New(k.Name, core, dyn, k.Namespaces, k.ReportGenerated, d.Hasher(), d.Controls()))
				continue
			}
		}
		var covers []string
		for _, ns := range Named(k.Namespaces) {
			covers = append(covers, "k8s:"+ns+"/")
		}
		if len(covers) == 0 {
			covers = []string{"k8s:"}
		}
		out = append(out, stores.Failed("kubernetes:"+k.Name, covers, fmt.Errorf("kubernetes:%s: %w", k.Name, err)))
	}
	return out, nil
}

// RESTConfig is the client configuration of one cluster entry: the pod's
// service account (in_cluster), or a kubeconfig (the file given, else
// $KUBECONFIG or ~/.kube/config) at the context given or its current one.
func RESTConfig(k config.KubernetesCluster) (*rest.Config, error) {
	if k.InCluster {
		return rest.InClusterConfig()
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if k.Kubeconfig != "" {
		rules.ExplicitPath = k.Kubeconfig
	}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: k.Context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	// A nightly batch job reads many namespaces: client-go's default of
	// 5 requests a second would make a large cluster take minutes.
	rc.QPS, rc.Burst = 50, 100
	rc.UserAgent = "vigil"
	return rc, nil
}

// NewSyncer opens the clusters of inventory.kubernetes for remediation's
// force-sync of ExternalSecrets after a rotation. A cluster that can't be
// opened is an error: a rotation whose copies can't be refreshed is not
// complete.
func NewSyncer(clusters []config.KubernetesCluster, h stores.Hasher) (*Syncer, error) {
	y := &Syncer{Hasher: h}
	for _, k := range clusters {
		rc, err := RESTConfig(k)
		if err != nil {
			return nil, fmt.Errorf("kubernetes:%s: %w", k.Name, err)
		}
		core, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return nil, fmt.Errorf("kubernetes:%s: %w", k.Name, err)
		}
		dyn, err := dynamic.NewForConfig(rc)
		if err != nil {
			return nil, fmt.Errorf("kubernetes:%s: %w", k.Name, err)
		}
		y.Clusters = append(y.Clusters, New(k.Name, core, dyn, k.Namespaces, false, nil, nil))
	}
	return y, nil
}
