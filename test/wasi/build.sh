#!/usr/bin/env bash
# Rebuilds the guests of the WASI tests (the built .wasm files are committed,
# so running the tests needs no toolchain). Deterministic: the same sources and
# toolchain give byte-identical files.
# Needs: clang lld wasi-libc libclang-rt-14-dev-wasm32 (Debian, installed by
# scripts/setup.sh) for *.c, and the root's npm dev dependencies
# (assemblyscript, @assemblyscript/wasi-shim) for as-*.ts.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
guests=test/wasi/guests
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Compile and link separately: a clang link step given -O runs whatever wasm-opt is first on PATH
# (npm puts binaryen's there), which would make the output depend on the caller's PATH.
for src in "$guests"/*.c; do
  out="${src%.c}.wasm"
  clang --target=wasm32-wasi --sysroot=/usr -O2 -Wall -Werror -c -o "$tmp/obj.o" "$src"
  clang --target=wasm32-wasi --sysroot=/usr -Wl,--strip-debug -o "$out" "$tmp/obj.o"
  echo "built $out"
done

for src in "$guests"/as-*.ts; do
  out="${src%.ts}.wasm"
  node_modules/.bin/asc "$src" --config node_modules/@assemblyscript/wasi-shim/asconfig.json -O3 -o "$out"
  echo "built $out"
done
