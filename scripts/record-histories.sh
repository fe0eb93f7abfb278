#!/usr/bin/env bash
# Re-records the workflow replay corpus (test/histories/*.json) from fresh runs of the scenarios in
# test/workflow/replay-scenarios.ts, on a real Temporal dev server with the scripted activities. Old histories are
# removed first, so the corpus is exactly what the scenarios write. Do this only for a change that is meant to be
# incompatible with existing histories, and guard that change with patched() (docs/upgrading.md).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$FLEDGE_ROOT"
ensure_node
rm -f test/histories/*.json
FLEDGE_RECORD_HISTORIES=1 node --test --test-concurrency=1 --test-timeout=900000 test/workflow/replay.test.ts
npx prettier --check test/histories >/dev/null
log "recorded $(ls test/histories/*.json | wc -l) histories into test/histories/"
