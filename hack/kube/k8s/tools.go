//go:build tools

// Package tools names the Kubernetes commands that hack/kube/build.sh builds, so that `go mod tidy`
// records every module (and go.sum entry) that they need.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
