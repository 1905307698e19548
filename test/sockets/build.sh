#!/usr/bin/env bash
# Rebuilds the guests of the socket tests (the built .wasm files are committed, so running the tests
# needs no toolchain). Needs clang with wasi-libc (scripts/setup.sh installs them). Deterministic:
# test/sockets/guests.test.ts checks that it reproduces the committed files byte for byte.
# OUT_DIR=<dir> writes them there instead of next to their sources.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT_DIR:-test/sockets/guests}"
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# Compile and link separately: a clang link step given -O runs whatever wasm-opt is first on PATH.
for src in test/sockets/guests/*.c; do
  name="$(basename "${src%.c}")"
  clang --target=wasm32-wasi --sysroot=/usr -O2 -Wall -Werror -c -o "$tmp/obj.o" "$src"
  clang --target=wasm32-wasi --sysroot=/usr -Wl,--strip-debug -o "$out/$name.wasm" "$tmp/obj.o"
  echo "built $out/$name.wasm"
done
