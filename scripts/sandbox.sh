#!/usr/bin/env bash
# The main job: the local sandbox (Temporal dev server + Web UI, simulated cluster, the fledge controller, podinfo
# with a Gateway API Canary, Prometheus with a healthy exporter, the gateway stand-in). Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$FLEDGE_ROOT"
ensure_node
if [ ! -d node_modules ]; then
  log "installing npm dependencies (npm ci) into $FLEDGE_ROOT/node_modules"
  npm ci --no-audit --no-fund --loglevel=error
fi
bash scripts/build-binaries.sh >/dev/null
bash scripts/ensure-system-packages.sh
bash scripts/fixtures.sh >/dev/null
exec node scripts/sandbox.ts
