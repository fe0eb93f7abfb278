#!/usr/bin/env bash
# The main job: the local sandbox (Temporal dev server + Web UI, simulated cluster, the fledge controller, podinfo
# with a Gateway API Canary, Prometheus with a healthy exporter, the gateway stand-in). Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$FLEDGE_ROOT"
ensure_stack_ready
exec node scripts/sandbox.ts
