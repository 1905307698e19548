#!/usr/bin/env bash
# Rebuilds the C guests of the WASI tests (the built .wasm files are committed,
# so running the tests needs no toolchain). Needs: clang lld wasi-libc
# libclang-rt-14-dev-wasm32 (Debian), as installed by scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/guests"
for src in *.c; do
  clang --target=wasm32-wasi --sysroot=/usr -O2 -Wall -Werror -o "${src%.c}.wasm" "$src"
  echo "built test/wasi/guests/${src%.c}.wasm"
done
