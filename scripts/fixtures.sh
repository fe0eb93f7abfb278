#!/usr/bin/env bash
# Downloads the third-party data the tests and the sandbox read (Gateway API CRDs, kwok stages, Flagger's CRDs and
# kustomize fixtures, Istio, Contour and Traefik CRDs) from the Go module proxy into the Go module cache, at the
# versions pinned in scripts/fixtures/go.mod and verified against scripts/fixtures/go.sum. Already-downloaded
# modules cost nothing. Prints one line per module: MODULE@VERSION DIR.
#
# Usage: scripts/fixtures.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$FLEDGE_ROOT/scripts/fixtures"
command -v go >/dev/null 2>&1 || { log "go is needed to fetch the pinned fixtures (scripts/fixtures/go.mod)"; exit 1; }
modules=$(awk '/^require \(/{on=1; next} on && /^\)/{on=0} on {print $1}' go.mod)
log "fetching fixture modules into $(go env GOMODCACHE):" $modules
export GOFLAGS=-mod=mod
for m in $modules; do
  out=$(go mod download -json "$m") || { log "cannot fetch $m: $out"; exit 1; }
  dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$out")
  version=$(sed -n 's/^[[:space:]]*"Version": "\(.*\)",$/\1/p' <<<"$out")
  [ -d "$dir" ] || { log "cannot fetch $m: $out"; exit 1; }
  echo "$m@$version $dir"
done
