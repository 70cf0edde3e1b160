#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries the tests need from their Go
# modules, because prebuilt envtest downloads are not reachable from here.
#
#   hack/kube-binaries.sh [component ...]     # default: kube-apiserver etcd
#
# Components: kube-apiserver kube-controller-manager kube-scheduler kubectl etcd.
# Binaries are cached outside the repo, keyed by version, and reused:
#   ${QD_CACHE_DIR:-$XDG_CACHE_HOME/queue-drainer}/kube-<K8S_VERSION>-etcd-<ETCD_VERSION>/
# The last line printed is that directory (use it as KUBEBUILDER_ASSETS).
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
# Kubernetes publishes its staging modules (k8s.io/api, ...) as v0.X.Y for v1.X.Y.
STAGING_VERSION=v0.${K8S_VERSION#v1.}

cache_root=${QD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/queue-drainer}
out=$cache_root/kube-$K8S_VERSION-etcd-$ETCD_VERSION
components=("$@")
[ ${#components[@]} -gt 0 ] || components=(kube-apiserver etcd)

log() { echo "[kube-binaries] $*" >&2; }

missing=()
for c in "${components[@]}"; do
  case "$c" in
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl|etcd) ;;
    *) log "unknown component: $c"; exit 2 ;;
  esac
  [ -x "$out/$c" ] || missing+=("$c")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "$out"
  exit 0
fi

mkdir -p "$out"
work=$cache_root/src
mkdir -p "$work"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

build_kube() {
  local mod=$work/kube-$K8S_VERSION
  if [ ! -f "$mod/.ready" ]; then
    log "preparing a build module for k8s.io/kubernetes $K8S_VERSION (staging modules at $STAGING_VERSION)"
    rm -rf "$mod" && mkdir -p "$mod"
    local kgomod
    kgomod=$(cd "$mod" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    {
      echo "module qdkubebuild"
      echo
      echo "go 1.25"
      echo
      echo "require k8s.io/kubernetes $K8S_VERSION"
      echo
      # k8s.io/kubernetes points its staging modules at ./staging/...; point them
      # at the published releases of the same version instead.
      grep -E '^\s*k8s\.io/[^ ]+ => \./staging/' "$kgomod" | awk -v v="$STAGING_VERSION" '{print "replace " $1 " => " $1 " " v}'
    } > "$mod/go.mod"
    (cd "$mod" && go mod download -x k8s.io/kubernetes 2>/dev/null; go get "k8s.io/kubernetes@$K8S_VERSION") >&2
    touch "$mod/.ready"
  fi
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)"
  log "building $1 $K8S_VERSION (the first build takes several minutes on 2 cores)"
  local start=$SECONDS
  (cd "$mod" && go build -trimpath -ldflags "$ldflags" -o "$out/$1.tmp" "k8s.io/kubernetes/cmd/$1")
  mv "$out/$1.tmp" "$out/$1"
  log "built $1 in $((SECONDS - start))s"
}

build_etcd() {
  local mod=$work/etcd-$ETCD_VERSION
  if [ ! -f "$mod/.ready" ]; then
    log "preparing a build module for etcd $ETCD_VERSION"
    rm -rf "$mod" && mkdir -p "$mod"
    cat > "$mod/main.go" <<'GO'
// Command etcd runs the etcd server from its Go module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    printf 'module qdetcdbuild\n\ngo 1.25\n' > "$mod/go.mod"
    (cd "$mod" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" && go mod tidy) >&2
    touch "$mod/.ready"
  fi
  log "building etcd $ETCD_VERSION"
  local start=$SECONDS
  (cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$out/etcd.tmp" .)
  mv "$out/etcd.tmp" "$out/etcd"
  log "built etcd in $((SECONDS - start))s"
}

for c in "${missing[@]}"; do
  case "$c" in
    etcd) build_etcd ;;
    *) build_kube "$c" ;;
  esac
done
echo "$out"
