#!/usr/bin/env bash
# The test command (README, .ci/run): installs and builds everything it needs from scratch, then
# checks generated files, type-checks, lints, runs every test on real servers, and fails if any
# harness process is left behind.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$FLEDGE_ROOT"
start=$SECONDS
# Every process this run starts inherits this marker, so survivors can be found without touching anyone else's.
export FLEDGE_RUN_ID="run-$(date +%s)-$$"

ensure_node
log "installing npm dependencies (npm ci) into $FLEDGE_ROOT/node_modules"
npm ci --no-audit --no-fund --loglevel=error
bash scripts/build-binaries.sh
bash scripts/build-helm.sh >/dev/null
bash scripts/ensure-system-packages.sh
bash scripts/fixtures.sh >/dev/null
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

# Test files start their own servers; one file at a time keeps a 2-core machine responsive. The chaos suite
# (test/chaos/, `*.chaos.ts`) has its own command, scripts/chaos.sh, and never runs here.
files=()
while IFS= read -r f; do files+=("$f"); done < <(find test -name '*.test.ts' -not -path 'test/chaos/*' ${FLEDGE_TEST_FILTER:+-path "*$FLEDGE_TEST_FILTER*"} | sort)
log "running ${#files[@]} test files"
status=0
# Nothing the tests start may listen outside loopback in this network namespace (pods and the gateway have their
# own, dev/netns.ts): a watcher samples the sockets of this process tree every second while the tests run.
listeners=$(mktemp)
node scripts/listen-watch.ts $$ "$listeners" &
watcher=$!
# --test-force-exit: a file whose tests have all ended exits even when a failed test left a timer or a socket behind
# (a sampler never stopped kept a file alive until CI's limit); harness processes it leaves are caught below.
node --test --test-concurrency="${FLEDGE_TEST_CONCURRENCY:-1}" --test-timeout=900000 --test-force-exit "${files[@]}" ||
  status=$?

kill "$watcher" 2>/dev/null || true
wait "$watcher" 2>/dev/null || true
if [ -s "$listeners" ]; then
  log "test processes listened on non-loopback addresses of the host's network namespace:"
  cat "$listeners" >&2
  status=1
fi
rm -f "$listeners"

# Nothing the harness started may outlive the tests: its temp dirs (in every server's arguments) carry the run id.
# On CI nothing else runs, so any fledge process at all is a leftover.
sleep 1
pattern="fledge-harness-$FLEDGE_RUN_ID"
[ "${CI:-}" = true ] && pattern='fledge-harness-|worker/main\.ts|worker/loadtester\.ts|scripted/worker-main\.ts'
if leftovers=$(pgrep -af -- "$pattern"); then
  log "processes left behind by the tests:"
  echo "$leftovers" >&2
  echo "$leftovers" | awk '{print $1}' | xargs -r kill -9 2>/dev/null || true
  status=1
fi
log "tests finished in $((SECONDS - start))s (exit $status)"
exit $status
