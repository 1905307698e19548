#!/usr/bin/env bash
# Regenerates every committed file that is made from a Cap'n Proto schema (by tools/codegen):
#   src/capnp-gen/<name>.rpc.ts          the typed RPC layer of each schema in capnp/ (descriptors, client and server types)
#   src/capnp-gen/rpc.layout.ts          where each field of rpc.capnp lives, for the RPC engine's wire layer
#   test/rpc/fixtures/gen/<name>.rpc.ts  the typed layer of the engine's test-only schemas (test/rpc/fixtures/*.capnp)
# Usage: bash scripts/capnp-gen.sh [OUT_ROOT]   (default: this repository; the staleness test passes a temporary
# directory and compares). Needs Debian's `capnproto`, whose /usr/include/capnp/rpc.capnp is the protocol's schema.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_ROOT="${1:-.}"
RPC_SCHEMA=/usr/include/capnp/rpc.capnp
command -v capnp >/dev/null && [ -f "$RPC_SCHEMA" ] || { echo "capnp or $RPC_SCHEMA not found: install Debian's capnproto (bash scripts/setup.sh)" >&2; exit 1; }
# The generator is TypeScript: compile it when its output is missing or older than its source.
main=dist/tools/codegen/main.js
if [ ! -f "$main" ] || [ -n "$(find tools/codegen -name '*.ts' -newer "$main")" ]; then
  npx tsc -p . >/dev/null || true
fi
node "$main" "$OUT_ROOT/src/capnp-gen" capnp/*.capnp
node "$main" --layout "$OUT_ROOT/src/capnp-gen" "$RPC_SCHEMA"
node "$main" --runtime ../../../../src/rpc "$OUT_ROOT/test/rpc/fixtures/gen" test/rpc/fixtures/*.capnp
