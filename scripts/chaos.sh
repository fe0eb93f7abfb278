#!/usr/bin/env bash
# The chaos suite (docs/reliability.md): rollouts on the local stack while the controller is SIGKILLed at random
# moments, the Temporal dev server is restarted, and a webhook answers 5xx, too late or never. Prints the seed and a
# summary table; exit status 1 when a run did not end as an uninterrupted one. Separate from scripts/test.sh (it
# takes minutes and loads the machine): run it on its own.
#
# Usage: scripts/chaos.sh [--rollouts 50] [--seed S] [--lanes 5] [--time-limit MINUTES] [--temporal-restarts 4]
#                         [--webhook-runs 2] [--only kill,temporal,webhooks] [--verbose]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$FLEDGE_ROOT"
ensure_stack_ready
exec node test/chaos/main.ts "$@"
