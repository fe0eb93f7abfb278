#!/usr/bin/env bash
# The test command (README, .ci/run): installs and builds everything it needs from scratch, then
# checks generated files, type-checks, lints, runs every test on real servers, and fails if any
# harness process is left behind.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$FLEDGE_ROOT"
start=$SECONDS

ensure_node
log "installing npm dependencies (npm ci)"
npm ci --no-audit --no-fund --loglevel=error
bash scripts/build-binaries.sh
bash scripts/build-helm.sh >/dev/null
bash scripts/ensure-system-packages.sh
log "setup done in $((SECONDS - start))s"

if [ -f scripts/gen-crds.ts ]; then
  log "checking generated CRDs"
  node scripts/gen-crds.ts --check
fi
log "type-check (tsc strict)"
npx tsc -p tsconfig.json
log "lint (eslint) and format (prettier)"
npx eslint .
npx prettier --check . >/dev/null || { npx prettier --list-different .; exit 1; }

# Test files start their own servers; one file at a time keeps a 2-core machine responsive.
files=()
while IFS= read -r f; do files+=("$f"); done < <(find test -name '*.test.ts' ${FLEDGE_TEST_FILTER:+-path "*$FLEDGE_TEST_FILTER*"} | sort)
log "running ${#files[@]} test files"
status=0
node --test --test-concurrency="${FLEDGE_TEST_CONCURRENCY:-1}" --test-timeout=900000 "${files[@]}" || status=$?

# Nothing the harness started may outlive the tests.
if leftovers=$(pgrep -af 'fledge-harness-' | grep -v pgrep); then
  log "processes left behind by the harness:"
  echo "$leftovers" >&2
  pkill -9 -f 'fledge-harness-' || true
  status=1
fi
log "tests finished in $((SECONDS - start))s (exit $status)"
exit $status
