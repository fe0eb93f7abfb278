#!/usr/bin/env bash
# Debian packages the tests and the sandbox use as real components (not mocks): Prometheus (`prometheus`, which
# also ships `promtool`) for metric analysis, graphite-web and python3-whisper for the Graphite provider's tests
# (dev/graphite.ts serves whisper files with graphite-web on a loopback port: no carbon, no system service), and
# Chromium (`chromium`) for the browser test of the Temporal Web UI
# (test/e2e/temporal-ui.test.ts drives it headless with playwright-core, which downloads no browser). Installed with
# apt-get only when missing, which needs root; without root it stops with the command to run. The harness runs its
# own Prometheus on a free loopback port, so the package's system service is not needed: it is stopped through its
# own service manager right after the install (never by killing processes by name). A Prometheus or Chromium
# installed some other way is used as found on PATH.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
missing=()
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# graphite-web (graphite-manage runs its Django server) with python3-whisper's whisper-update.
command -v graphite-manage >/dev/null 2>&1 &&
  command -v whisper-update >/dev/null 2>&1 || missing+=(graphite-web python3-whisper)
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  log "Needed: ${missing[*]} (Prometheus: prometheus and promtool on PATH; chromium on PATH; graphite-manage, whisper-update)."
  log "Install Debian's packages as root, then rerun:"
  log "  sudo apt-get install --no-install-recommends ${missing[*]}"
  exit 1
fi
command -v apt-get >/dev/null 2>&1 || {
  log "Needed: ${missing[*]}, and this machine has no apt-get: install them, then rerun"
  exit 1
}
log "installing Debian's ${missing[*]} package(s) (apt-get, into /usr/bin) for the tests' real components"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [[ " ${missing[*]} " == *" prometheus "* ]]; then
  # The package may have started its system service; stop exactly that service, through its own manager.
  if [ -d /run/systemd/system ]; then
    systemctl stop prometheus.service >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/prometheus ]; then
    /etc/init.d/prometheus stop >/dev/null 2>&1 || true
  fi
  log "installed: $(command -v prometheus) ($(prometheus --version 2>&1 | head -n1))"
fi
if [[ " ${missing[*]} " == *" chromium "* ]]; then
  log "installed: $(command -v chromium) ($(chromium --version 2>/dev/null | head -n1))"
fi
