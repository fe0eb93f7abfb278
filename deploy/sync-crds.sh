#!/usr/bin/env bash
# Copies the generated CRDs (crds/, from `npm run crds`) into the Helm chart and the kustomize base.
# --check: fail if a copy differs (the deploy test runs it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
targets=("$root/deploy/chart/files/crds" "$root/deploy/kustomize/crds")
status=0
for dir in "${targets[@]}"; do
  mkdir -p "$dir"
  for f in "$root"/crds/*.yaml; do
    dest="$dir/$(basename "$f")"
    if [ "${1:-}" = --check ]; then
      cmp -s "$f" "$dest" || { echo "out of date: ${dest#"$root"/} (run deploy/sync-crds.sh)" >&2; status=1; }
    else
      cp "$f" "$dest"
    fi
  done
done
exit $status
