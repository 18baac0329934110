//go:build tools

// Package tools names the etcd command that hack/kube/build.sh builds.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)
