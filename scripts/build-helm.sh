#!/usr/bin/env bash
# Builds helm (for rendering and testing deploy/chart) from the Go module proxy into the fledge cache:
# $FLEDGE_CACHE/helm-<version>/helm. Rebuilt only when missing. FLEDGE_HELM_BIN, or a helm already on PATH,
# is used instead. Prints FLEDGE_HELM_BIN=/abs/path.
#
# Usage: scripts/build-helm.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"

HELM_VERSION=v3.21.4

resolve() {
  if [ -n "${FLEDGE_HELM_BIN:-}" ]; then
    [ -x "$FLEDGE_HELM_BIN" ] || { log "FLEDGE_HELM_BIN=$FLEDGE_HELM_BIN is not executable"; exit 1; }
    echo "$FLEDGE_HELM_BIN"
    return
  fi
  if [ "${FLEDGE_USE_PATH_BINARIES:-1}" = 1 ] && command -v helm >/dev/null 2>&1; then
    command -v helm
    return
  fi
  local dir="$FLEDGE_CACHE/helm-$HELM_VERSION"
  if [ ! -x "$dir/helm" ]; then
    log "building helm $HELM_VERSION (takes minutes on a cold cache) ..."
    local start=$SECONDS logf
    logf=$(mktemp)
    # The version stamp makes `helm version` honest; helm reads it from this variable.
    if ! env CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--trimpath}" GOBIN="$dir" go install \
      -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
      "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >"$logf" 2>&1; then
      log "build of helm FAILED; last lines:"
      tail -n 30 "$logf" >&2
      rm -f "$logf"
      exit 1
    fi
    rm -f "$logf"
    log "built helm in $((SECONDS - start))s"
  fi
  echo "$dir/helm"
}

mkdir -p "$FLEDGE_CACHE"
# Concurrent test files may ask at once: one builds, the others wait.
exec 9>"$FLEDGE_CACHE/.build-helm.lock"
flock 9
echo "FLEDGE_HELM_BIN=$(resolve)"
