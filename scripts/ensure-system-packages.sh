#!/usr/bin/env bash
# Debian packages the tests use as real components (not mocks): Prometheus for metric analysis.
# Installed only when missing; needs root (as on this machine kind) or a pre-installed package.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
[ ${#need[@]} -eq 0 ] && exit 0
log "installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The package may start a system service; the tests run their own servers on free ports.
(systemctl stop prometheus 2>/dev/null || service prometheus stop 2>/dev/null || pkill -x prometheus || true) >/dev/null 2>&1
