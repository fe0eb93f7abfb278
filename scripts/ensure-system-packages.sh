#!/usr/bin/env bash
# Debian packages the tests and the sandbox use as real components (not mocks): Prometheus (`prometheus`, which
# also ships `promtool`) for metric analysis. Installed with apt-get only when missing, which needs root; without
# root it stops with the command to run. The harness runs its own Prometheus on a free loopback port, so the
# package's system service is not needed: it is stopped through its own service manager right after the install
# (never by killing processes by name). A Prometheus installed some other way is used as found on PATH.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 && exit 0

if [ "$(id -u)" -ne 0 ]; then
  log "Prometheus is needed (prometheus and promtool on PATH). Install Debian's package as root, then rerun:"
  log "  sudo apt-get install --no-install-recommends prometheus"
  exit 1
fi
command -v apt-get >/dev/null 2>&1 || {
  log "Prometheus is needed (prometheus and promtool on PATH) and this machine has no apt-get: install it, then rerun"
  exit 1
}
log "installing Debian's prometheus package (apt-get, into /usr/bin) for the tests' real Prometheus"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
# The package may have started its system service; stop exactly that service, through its own manager.
if [ -d /run/systemd/system ]; then
  systemctl stop prometheus.service >/dev/null 2>&1 || true
elif [ -x /etc/init.d/prometheus ]; then
  /etc/init.d/prometheus stop >/dev/null 2>&1 || true
fi
log "installed: $(command -v prometheus) ($(prometheus --version 2>&1 | head -n1))"
