#!/usr/bin/env bash
# Rebuilds every example module from source (npm run build:examples). The built .wasm files are
# committed so users need no toolchain; this script is how they are made, and it is deterministic:
# the same sources and toolchain give byte-identical files (test/cli checks that).
#
# Needs: clang 14+ with wasi-libc (Debian: clang lld wasi-libc libclang-rt-14-dev-wasm32), Go 1.23 at
# /usr/lib/go-1.23 (Debian bookworm-backports: golang-1.23-go; GO=<path> overrides), both installed by
# scripts/setup.sh, and the root's npm dev dependencies (assemblyscript, @assemblyscript/wasi-shim).
# OUT_DIR=<dir> writes the modules under <dir> (same layout) instead of into examples/.
# Arguments, if any, name the examples to build (folders under examples/: `tree pipeline ww-c`);
# without arguments every example is built.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT_DIR:-.}"
only=("$@")
wanted() { # EXAMPLE: whether it is to be built
  [ "${#only[@]}" -eq 0 ] && return 0
  local name
  for name in "${only[@]}"; do [ "$name" = "$1" ] && return 0; done
  return 1
}
for name in "${only[@]}"; do
  [ -d "examples/$name" ] || { echo "build-examples: no example named $name (a folder under examples/)" >&2; exit 2; }
done
built=()

CLANG="${CLANG:-clang}"
ASC="node_modules/.bin/asc"
command -v "$CLANG" >/dev/null || { echo "build-examples: $CLANG not found; run scripts/setup.sh (apt: clang lld wasi-libc libclang-rt-14-dev-wasm32)" >&2; exit 1; }
[ -x "$ASC" ] || { echo "build-examples: $ASC not found; run npm ci" >&2; exit 1; }

# C: wasi-libc, optimised, DWARF stripped but the "name" section kept so traps can name functions.
# Compile and link are separate steps on purpose: a clang link step given -O runs whatever `wasm-opt`
# is first on PATH (npm puts binaryen's there), which would make the output depend on the caller's PATH.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# -I guest-sdk/include: ww.h, the `ww` host module's header (it changes no other example's bytes).
build_c() { # SOURCE OUTPUT
  mkdir -p "$(dirname "$out/$2")"
  "$CLANG" --target=wasm32-wasi --sysroot=/usr -I guest-sdk/include -O2 -c -o "$tmp/obj.o" "$1"
  "$CLANG" --target=wasm32-wasi --sysroot=/usr -Wl,--strip-debug -o "$out/$2" "$tmp/obj.o"
  built+=("$2")
}

# AssemblyScript: the WASI shim supplies abort/trace/seed and exports _start; --debug keeps names.
build_as() { # SOURCE OUTPUT
  mkdir -p "$(dirname "$out/$2")"
  "$ASC" "$1" --config node_modules/@assemblyscript/wasi-shim/asconfig.json -O3 --debug -o "$out/$2"
  built+=("$2")
}

# Go: GOOS=wasip1 from Go 1.23 (Debian bookworm-backports: golang-1.23-go, installed by scripts/setup.sh).
# Everything that could leak the caller's machine into the bytes is pinned: no VCS stamp, no source
# paths (-trimpath), no cgo, a fresh build/module cache and no user go.env (GOENV=off), no toolchain
# switching or downloads, no GOFLAGS/GOWASM/GOEXPERIMENT from the caller. -s -w drops symbols and DWARF.
build_go() { # MODULE_DIR OUTPUT
  mkdir -p "$(dirname "$out/$2")"
  local dest
  dest="$(cd "$(dirname "$out/$2")" && pwd)/$(basename "$2")"
  (cd "$1" && env GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 GOENV=off GOFLAGS= GOWASM= GOEXPERIMENT= \
      GOTOOLCHAIN=local GOPROXY=off GOWORK=off GOCACHE="$tmp/go-cache" GOPATH="$tmp/go-path" \
      "$GO" build -trimpath -buildvcs=false -modcacherw -ldflags='-s -w' -o "$dest" .)
  built+=("$2")
}

wanted hello-c   && build_c  examples/hello-c/hello.c         examples/hello-c/hello.wasm
wanted wordcount && build_c  examples/wordcount/wordcount.c   examples/wordcount/wordcount.wasm
wanted cpu-loop  && build_c  examples/cpu-loop/cpu-loop.c     examples/cpu-loop/cpu-loop.wasm
wanted ww-c      && build_c  examples/ww-c/squares.c          examples/ww-c/squares.wasm
wanted hello-as  && build_as examples/hello-as/hello.ts       examples/hello-as/hello.wasm
wanted tree      && build_as examples/tree/tree.ts            examples/tree/tree.wasm
wanted pipeline  && build_as examples/pipeline/pipeline.ts    examples/pipeline/pipeline.wasm
if wanted echo-go; then
  GO="${GO:-/usr/lib/go-1.23/bin/go}"
  [ -x "$GO" ] || { echo "build-examples: $GO not found; run scripts/setup.sh (apt: golang-1.23-go from bookworm-backports)" >&2; exit 1; }
  # Another Go release compiles different bytes; say so instead of leaving a puzzling diff.
  GO_VERSION_COMMITTED=go1.23.5  # the Go that built the committed examples/echo-go/echo.wasm
  go_version="$(GOENV=off GOTOOLCHAIN=local "$GO" env GOVERSION)" || { echo "build-examples: $GO does not run; run scripts/setup.sh" >&2; exit 1; }
  [ "$go_version" = "$GO_VERSION_COMMITTED" ] || echo "build-examples: warning: $GO is $go_version, but the committed Go examples were built with $GO_VERSION_COMMITTED; expect different bytes (commit the rebuilt .wasm and update GO_VERSION_COMMITTED)" >&2
  build_go examples/echo-go                 examples/echo-go/echo.wasm
fi
# The short path the top-level README uses: the C hello world.
if wanted hello-c; then
  cp "$out/examples/hello-c/hello.wasm" "$out/examples/hello.wasm"
  built+=(examples/hello.wasm)
fi

for f in "${built[@]}"; do
  printf '%8d  %s\n' "$(wc -c < "$out/$f")" "$out/$f"
done
