#!/usr/bin/env bash
# Rebuilds the guests of the socket tests (the built .wasm files are committed, so running the tests
# needs no toolchain). Needs clang with wasi-libc (scripts/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# Compile and link separately: a clang link step given -O runs whatever wasm-opt is first on PATH.
for src in test/sockets/guests/*.c; do
  out="${src%.c}.wasm"
  clang --target=wasm32-wasi --sysroot=/usr -O2 -Wall -Werror -c -o "$tmp/obj.o" "$src"
  clang --target=wasm32-wasi --sysroot=/usr -Wl,--strip-debug -o "$out" "$tmp/obj.o"
  echo "built $out"
done
