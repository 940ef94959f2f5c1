package kubernetes

import (
	"context"
	"fmt"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vigilsec/vigil/stores"
)

// SealedSecret objects in the cluster, listed as sealed:NAMESPACE/NAME/KEY
// from their metadata and the names of their encrypted keys (the same
// paths the sealed store gives their manifests in files). Their values
// are not unsealed here: the Secret the controller unseals from each is
// listed (and hashed, when values are) as itself.
var sealedGVR = schema.GroupVersionResource{Group: "bitnami.com", Version: "v1alpha1", Resource: "sealedsecrets"}

// sealedServed says whether the cluster has the SealedSecret resource.
func (s *Store) sealedServed() (bool, error) {
	if s.dyn == nil {
		return false, nil
	}
	_, err := s.core.Discovery().ServerResourcesForGroupVersion(sealedGVR.GroupVersion().String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

func (s *Store) listSealed(ctx context.Context, ns string, emit func(stores.Secret)) error {
	s.covers = append(s.covers, "sealed:"+ns+"/")
	return s.each(ctx, sealedGVR, ns, func(o *unstructured.Unstructured) {
		enc, _, _ := unstructured.NestedMap(o.Object, "spec", "encryptedData")
		keys := make([]string, 0, len(enc))
		for k := range enc {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		scope := "strict"
		switch a := o.GetAnnotations(); {
		case a["sealedsecrets.bitnami.com/cluster-wide"] == "true":
			scope = "cluster-wide"
		case a["sealedsecrets.bitnami.com/namespace-wide"] == "true":
			scope = "namespace-wide"
		}
		owner, env, rot := labelled(o.GetLabels(), o.GetAnnotations())
		for _, k := range keys {
			emit(stores.Secret{Path: "sealed:" + ns + "/" + o.GetName() + "/" + k, Store: s.name,
				Where: fmt.Sprintf("SealedSecret %s/%s (%s scope)", ns, o.GetName(), scope),
				Owner: owner, Env: env, RotationDays: rot, Created: o.GetCreationTimestamp().Time})
		}
	})
}
