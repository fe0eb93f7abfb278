#!/usr/bin/env bash
# Builds the real servers the tests and the sandbox run, from the Go module proxy, into a cache outside
# the repo: $FLEDGE_CACHE_DIR or $XDG_CACHE_HOME/fledge or ~/.cache/fledge, one folder per <name>-<version>.
# A binary is rebuilt only when missing. FLEDGE_<NAME>_BIN (e.g. FLEDGE_ETCD_BIN) or a binary already on
# PATH is used instead of building. Prints one line per binary: NAME=/abs/path (also written to
# $FLEDGE_CACHE/bin.env for the test harness).
#
# Usage: scripts/build-binaries.sh [name ...]   (default: all)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

TEMPORAL_VERSION=v1.5.1
K8S_VERSION=v1.36.3
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0
# Traefik: the Gateway API data plane of the traffic tests (test/e2e/traffic.test.ts, dev/netns.ts).
TRAEFIK_VERSION=v3.6.12
# controller-gen generates CRDs from the Go API types Flagger ships (App Mesh, SMI) whose upstream CRDs the Go
# module proxy does not serve; see dev/fixtures.ts flaggerApiCrdFiles.
CONTROLLER_TOOLS_VERSION=v0.19.0
# Flagger: only for the side-by-side benchmark (bench/side-by-side.ts asks for it by name; never in the default
# list, so the test command and the sandbox never build it).
FLAGGER_VERSION=v1.44.0

export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--trimpath}"

# resolve NAME ENVVAR -> prints a path if overridden or on PATH
resolve_existing() {
  local name=$1 var=$2
  if [ -n "${!var:-}" ]; then
    [ -x "${!var}" ] || { log "$var=${!var} is not executable"; exit 1; }
    echo "${!var}"
    return 0
  fi
  # Only trust PATH when asked to: an old binary from some other package would silently skew tests.
  if [ "${FLEDGE_USE_PATH_BINARIES:-1}" = 1 ] && command -v "$name" >/dev/null 2>&1; then
    command -v "$name"
    return 0
  fi
  return 1
}

timed_build() {
  local label=$1; shift
  local start=$SECONDS
  log "building $label (takes minutes on a cold cache) ..."
  local logf
  logf=$(mktemp)
  if ! "$@" >"$logf" 2>&1; then
    log "build of $label FAILED; last lines:"
    tail -n 30 "$logf" >&2
    rm -f "$logf"
    exit 1
  fi
  rm -f "$logf"
  log "built $label in $((SECONDS - start))s"
}

build_temporal() {
  local dir="$FLEDGE_CACHE/temporal-$TEMPORAL_VERSION"
  [ -x "$dir/temporal" ] || timed_build "temporal $TEMPORAL_VERSION" \
    env GOBIN="$dir" go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_VERSION"
  echo "$dir/temporal"
}

build_kwok() {
  local dir="$FLEDGE_CACHE/kwok-$KWOK_VERSION"
  [ -x "$dir/kwok" ] || timed_build "kwok $KWOK_VERSION" \
    env GOBIN="$dir" go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  echo "$dir/kwok"
}

build_flagger() {
  local dir="$FLEDGE_CACHE/flagger-$FLAGGER_VERSION"
  [ -x "$dir/flagger" ] || timed_build "flagger $FLAGGER_VERSION" \
    env GOBIN="$dir" go install -ldflags "-s -w" "github.com/fluxcd/flagger/cmd/flagger@$FLAGGER_VERSION"
  echo "$dir/flagger"
}

build_controller_gen() {
  local dir="$FLEDGE_CACHE/controller-tools-$CONTROLLER_TOOLS_VERSION"
  [ -x "$dir/controller-gen" ] || timed_build "controller-gen $CONTROLLER_TOOLS_VERSION" \
    env GOBIN="$dir" go install "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_TOOLS_VERSION"
  echo "$dir/controller-gen"
}

build_etcd() {
  local dir="$FLEDGE_CACHE/etcd-$ETCD_VERSION"
  [ -x "$dir/etcd" ] || timed_build "etcd $ETCD_VERSION" \
    bash -c "cd '$FLEDGE_ROOT/scripts/etcd' && go build -o '$dir/etcd' go.etcd.io/etcd/server/v3"
  echo "$dir/etcd"
}

# Traefik's go.mod has replace and exclude directives, which go install refuses; the wrapper module
# scripts/traefik repeats them (keep it in step with TRAEFIK_VERSION).
build_traefik() {
  local dir="$FLEDGE_CACHE/traefik-$TRAEFIK_VERSION"
  [ -x "$dir/traefik" ] || timed_build "traefik $TRAEFIK_VERSION" \
    bash -c "cd '$FLEDGE_ROOT/scripts/traefik' && mkdir -p '$dir' && \
      go build -ldflags '-s -w' -o '$dir/traefik' github.com/traefik/traefik/v3/cmd/traefik"
  echo "$dir/traefik"
}

# One wrapper module builds all Kubernetes commands; they share most packages, so build them together.
build_k8s() {
  local cmd=$1
  local dir="$FLEDGE_CACHE/kubernetes-$K8S_VERSION"
  if [ ! -x "$dir/$cmd" ]; then
    local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION"
    ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=36"
    ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
    timed_build "$cmd $K8S_VERSION" bash -c "cd '$FLEDGE_ROOT/scripts/k8s' && mkdir -p '$dir' && \
      go build -ldflags '$ldflags' -o '$dir/$cmd' k8s.io/kubernetes/cmd/$cmd"
  fi
  echo "$dir/$cmd"
}

one() {
  local name=$1 var path
  var="FLEDGE_$(echo "$name" | tr 'a-z-' 'A-Z_')_BIN"
  if ! path=$(resolve_existing "$name" "$var"); then
    case $name in
      temporal) path=$(build_temporal) ;;
      kwok) path=$(build_kwok) ;;
      controller-gen) path=$(build_controller_gen) ;;
      flagger) path=$(build_flagger) ;;
      etcd) path=$(build_etcd) ;;
      traefik) path=$(build_traefik) ;;
      kube-apiserver | kube-controller-manager | kube-scheduler | kubectl) path=$(build_k8s "$name") ;;
      *) log "unknown binary $name"; exit 2 ;;
    esac
  fi
  echo "$var=$path"
}

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(temporal etcd kube-apiserver kube-controller-manager kube-scheduler kwok kubectl controller-gen traefik)
mkdir -p "$FLEDGE_CACHE"
# Test files and helpers may ask at the same time: one builds, the others wait for it.
exec 9>"$FLEDGE_CACHE/.build.lock"
flock 9
start=$SECONDS
out=""
for n in "${names[@]}"; do
  line=$(one "$n")
  echo "$line"
  out+="$line"$'\n'
done
if [ $# -eq 0 ]; then printf '%s' "$out" >"$FLEDGE_CACHE/bin.env"; fi
[ $((SECONDS - start)) -lt 2 ] || log "binaries ready in $((SECONDS - start))s (cache: $FLEDGE_CACHE)"
