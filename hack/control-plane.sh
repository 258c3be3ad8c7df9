#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and etcd from the Go module proxy at pinned
# versions into a cache outside the repository, so envtest has a real control plane without any
# download host. Prints the directory holding the binaries (usable as KUBEBUILDER_ASSETS).
# envtest runs kube-apiserver and etcd; tests that need a controller of the control plane (the
# ClusterRole aggregation of the self-service RBAC test) run kube-controller-manager from there.
#
#   hack/control-plane.sh            build if missing, print the assets directory
#   KUBE_VERSION / ETCD_VERSION      override the pinned versions
#   POLICY_HERALD_CACHE              override the cache root (default ~/.cache/policy-herald)
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
CACHE=${POLICY_HERALD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/policy-herald}
ASSETS="$CACHE/control-plane/kube-${KUBE_VERSION}-etcd-${ETCD_VERSION}"

log() { echo "control-plane: $*" >&2; }

# kube_module writes (once) a module in which the kubernetes commands build.
kube_module() {
  local work="$CACHE/build/kube-apiserver-$KUBE_VERSION"
  local staging="v0.${KUBE_VERSION#v1.}"
  mkdir -p "$work"
  [ -f "$work/go.sum" ] && grep -q kube-controller-manager "$work/tools.go" 2>/dev/null && return
  log "preparing the kubernetes $KUBE_VERSION module (staging modules $staging)"
  # The kubernetes module replaces its staging modules with ./staging paths; a consumer must
  # replace each of them with the published module at the matching v0.x release instead.
  local gomod
  gomod=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  {
    echo "module policyherald.local/kube-apiserver-build"
    echo
    echo "go 1.25"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    echo "replace ("
    grep -Eo 'k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$gomod" |
      awk -v v="$staging" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } >"$work/go.mod"
  cat >"$work/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
GO
  (cd "$work" && GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || true)
}

# build_kube NAME builds k8s.io/kubernetes/cmd/NAME into the assets directory.
build_kube() {
  kube_module
  log "building $1 $KUBE_VERSION; takes ~5 minutes once"
  (cd "$CACHE/build/kube-apiserver-$KUBE_VERSION" &&
    GOFLAGS=-mod=mod CGO_ENABLED=0 go build -o "$ASSETS/$1.tmp" "k8s.io/kubernetes/cmd/$1")
  mv "$ASSETS/$1.tmp" "$ASSETS/$1"
}

build_etcd() {
  local work="$CACHE/build/etcd-$ETCD_VERSION"
  mkdir -p "$work"
  log "building etcd $ETCD_VERSION; takes ~1 minute once"
  cat >"$work/go.mod" <<GOMOD
module policyherald.local/etcd-build

go 1.25

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
GOMOD
  cat >"$work/tools.go" <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  (cd "$work" && GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || true)
  (cd "$work" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -o "$ASSETS/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$ASSETS/etcd.tmp" "$ASSETS/etcd"
}

mkdir -p "$ASSETS"
[ -x "$ASSETS/etcd" ] || build_etcd
[ -x "$ASSETS/kube-apiserver" ] || build_kube kube-apiserver
[ -x "$ASSETS/kube-controller-manager" ] || build_kube kube-controller-manager
echo "$ASSETS"
