#!/usr/bin/env bash
# Rebuilds every example module from source (npm run build:examples). The built .wasm files are
# committed so users need no toolchain; this script is how they are made, and it is deterministic:
# the same sources and toolchain give byte-identical files (test/cli checks that).
#
# Needs: clang 14+ with wasi-libc (Debian: clang lld wasi-libc libclang-rt-14-dev-wasm32), Go 1.23 at
# /usr/lib/go-1.23 (Debian bookworm-backports: golang-1.23-go; GO=<path> overrides), both installed by
# scripts/setup.sh, Debian's golang-mvdan-sh-dev sources (GOCODE=<dir> overrides /usr/share/gocode/src)
# for examples/argo-images, and the root's npm dev dependencies (assemblyscript, @assemblyscript/wasi-shim).
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
# Go 1.23 at $GO, checked once for whichever Go examples are wanted.
use_go() {
  [ -n "${go_checked:-}" ] && return 0
  GO="${GO:-/usr/lib/go-1.23/bin/go}"
  [ -x "$GO" ] || { echo "build-examples: $GO not found; run scripts/setup.sh (apt: golang-1.23-go from bookworm-backports)" >&2; exit 1; }
  # Another Go release compiles different bytes; say so instead of leaving a puzzling diff.
  GO_VERSION_COMMITTED=go1.23.5  # the Go that built the committed Go examples
  go_version="$(GOENV=off GOTOOLCHAIN=local "$GO" env GOVERSION)" || { echo "build-examples: $GO does not run; run scripts/setup.sh" >&2; exit 1; }
  [ "$go_version" = "$GO_VERSION_COMMITTED" ] || echo "build-examples: warning: $GO is $go_version, but the committed Go examples were built with $GO_VERSION_COMMITTED; expect different bytes (commit the rebuilt .wasm and update GO_VERSION_COMMITTED)" >&2
  go_checked=1
}
if wanted echo-go; then
  use_go
  build_go examples/echo-go                 examples/echo-go/echo.wasm
fi

# examples/argo-images/sh wraps mvdan.cc/sh's interpreter, taken from Debian's golang-mvdan-sh-dev
# (and golang.org/x/sync, x/term it imports), never from a module proxy: the sources are copied into
# a vendor tree in a scratch module, our wasip1 patch is applied there, and Go builds it offline.
build_argo_sh() { # OUTPUT
  local gocode="${GOCODE:-/usr/share/gocode/src}" src="$tmp/argo-sh" d
  for d in mvdan.cc/sh/v3 golang.org/x/sync golang.org/x/term; do
    [ -d "$gocode/$d" ] || { echo "build-examples: $gocode/$d not found; run scripts/setup.sh (apt: golang-mvdan-sh-dev)" >&2; exit 1; }
  done
  mkdir -p "$src/vendor/mvdan.cc/sh" "$src/vendor/golang.org/x"
  cp examples/argo-images/sh/go.mod examples/argo-images/sh/*.go "$src/"
  cp -r "$gocode/mvdan.cc/sh/v3" "$src/vendor/mvdan.cc/sh/v3"
  cp -r "$gocode/golang.org/x/sync" "$gocode/golang.org/x/term" "$src/vendor/golang.org/x/"
  patch -s -p1 -d "$src/vendor/mvdan.cc/sh/v3" < examples/argo-images/sh/mvdan-sh-wasip1.patch
  cat > "$src/vendor/modules.txt" <<'MODULES'
# golang.org/x/sync v0.1.0
## explicit
golang.org/x/sync/errgroup
# golang.org/x/term v0.3.0
## explicit
golang.org/x/term
# mvdan.cc/sh/v3 v3.6.0
## explicit
mvdan.cc/sh/v3/expand
mvdan.cc/sh/v3/fileutil
mvdan.cc/sh/v3/interp
mvdan.cc/sh/v3/pattern
mvdan.cc/sh/v3/syntax
MODULES
  build_go "$src" "$1"
}
if wanted argo-images; then
  use_go
  build_argo_sh                                 examples/argo-images/sh/sh.wasm
  build_go examples/argo-images/argosay         examples/argo-images/argosay/argosay.wasm
fi
# The short path the top-level README uses: the C hello world.
if wanted hello-c; then
  cp "$out/examples/hello-c/hello.wasm" "$out/examples/hello.wasm"
  built+=(examples/hello.wasm)
fi

for f in "${built[@]}"; do
  printf '%8d  %s\n' "$(wc -c < "$out/$f")" "$out/$f"
done
