// Package all is the registry of secret stores: every store this build
// has, under the name vigil.yaml's inventory: section gives it, in the order
// a run lists them. A new store is its own folder under stores/ and one line
// here.
package all

import (
	"github.com/vigilsec/vigil/stores"
	"github.com/vigilsec/vigil/stores/awssm"
	"github.com/vigilsec/vigil/stores/azkv"
	"github.com/vigilsec/vigil/stores/doppler"
	"github.com/vigilsec/vigil/stores/files"
	"github.com/vigilsec/vigil/stores/gcpsm"
	"github.com/vigilsec/vigil/stores/github"
	"github.com/vigilsec/vigil/stores/gitlab"
	"github.com/vigilsec/vigil/stores/kubernetes"
	"github.com/vigilsec/vigil/stores/onepassword"
	"github.com/vigilsec/vigil/stores/sealed"
	"github.com/vigilsec/vigil/stores/sops"
	"github.com/vigilsec/vigil/stores/vault"
)

// Kind is one registered store type.
type Kind struct {
	Name string // as in vigil.yaml (inventory.<name>)
	Open stores.Opener
}

// Kinds are the registered store types.
var Kinds = []Kind{
	{"vault", vault.Open},
	{"awssm", awssm.Open},
	{"github", github.Open},
	{"files", files.Open},
	{"azure_keyvault", azkv.Open},
	{"gcp_secret_manager", gcpsm.Open},
	{"sops", sops.Open},
	{"sealed_secrets", sealed.Open},
	{"kubernetes", kubernetes.Open},
	{"gitlab", gitlab.Open},
	{"onepassword", onepassword.Open},
	{"doppler", doppler.Open},
}
