#!/usr/bin/env bash
# The main job: local sandbox (Temporal dev server + UI, simulated cluster, the fledge controller).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$FLEDGE_ROOT"
ensure_node
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
bash scripts/build-binaries.sh >/dev/null
exec node scripts/sandbox.ts
