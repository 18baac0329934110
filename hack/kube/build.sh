#!/usr/bin/env bash
# Build the real Kubernetes control plane (kube-apiserver, kube-controller-manager, kube-scheduler) and
# etcd from their Go modules, pinned in hack/kube/k8s and hack/kube/etcd (go.mod + go.sum), into
# $MLOPS_KUBE_CACHE/<version>/bin. Nothing is downloaded but Go modules from the Go module proxy.
#
# Idempotent: when the binaries of this version and these go.sum files are there, it returns at once.
# Prints the bin directory on its last line. `hack/kube/build.sh --print-bin` prints it without building.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

KUBE_VERSION=$(sed -n 's/^require k8s.io\/kubernetes \(v[0-9.]*\)$/\1/p' "$here/k8s/go.mod")
ETCD_VERSION=$(sed -n 's/^require go.etcd.io\/etcd\/server\/v3 \(v[0-9.]*\)$/\1/p' "$here/etcd/go.mod")
# Outside the checkout, so that every clone on this machine (CI's included) reuses one build.
CACHE=${MLOPS_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-k8s/kube}
key=$(cat "$here/k8s/go.sum" "$here/etcd/go.sum" "$here/build.sh" | sha256sum | cut -c1-12)
out="$CACHE/$KUBE_VERSION-etcd$ETCD_VERSION-$key"
bin="$out/bin"

if [ "${1:-}" = --print-bin ]; then echo "$bin"; exit 0; fi
if [ -f "$out/.done" ]; then echo "$bin"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  echo "kube: 'go' is not on the PATH; the real control plane cannot be built here" >&2
  exit 3
fi

mkdir -p "$bin"
start=$(date +%s)
minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
ldflags+=" -X $pkg.gitCommit=0000000000000000000000000000000000000000"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
for cmd in kube-apiserver kube-controller-manager kube-scheduler; do
  echo "kube: building $cmd $KUBE_VERSION" >&2
  (cd "$here/k8s" && go build -trimpath -ldflags "$ldflags" -o "$bin/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd")
  mv "$bin/$cmd.tmp" "$bin/$cmd"
done
echo "kube: building etcd $ETCD_VERSION" >&2
(cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" go.etcd.io/etcd/server/v3)
mv "$bin/etcd.tmp" "$bin/etcd"
printf 'kubernetes=%s\netcd=%s\nbuild_seconds=%s\n' "$KUBE_VERSION" "$ETCD_VERSION" "$(( $(date +%s) - start ))" > "$out/versions"
touch "$out/.done"
echo "kube: built in $(( $(date +%s) - start )) s into $bin" >&2
echo "$bin"
