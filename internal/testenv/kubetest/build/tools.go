//go:build tools

// Keeps the API server's packages in go.mod: `go build
// k8s.io/kubernetes/cmd/kube-apiserver` builds it from there.

package tools

import (
	_ "go.etcd.io/etcd/server/v3/etcdmain"
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
)
