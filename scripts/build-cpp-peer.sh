#!/usr/bin/env bash
# Builds the C++ reference peer for the RPC interop contract (test/interop/cpp/peer.c++ against
# capnp/interop.capnp and libcapnp-rpc) into test/interop/cpp/build/peer.
# Rebuilds only when the peer, the schema or this script is newer than the binary.
# Usage: bash scripts/build-cpp-peer.sh        (prints the path of the peer on stdout)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source_file="$root/test/interop/cpp/peer.c++"
schema="$root/capnp/interop.capnp"
build_dir="$root/test/interop/cpp/build"
peer="$build_dir/peer"

missing=()
command -v capnp >/dev/null 2>&1 || missing+=(capnproto)
command -v capnpc-c++ >/dev/null 2>&1 || missing+=(capnproto)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
if ! command -v pkg-config >/dev/null 2>&1; then
  missing+=(pkg-config libcapnp-dev)
elif ! pkg-config --exists capnp-rpc; then
  missing+=(libcapnp-dev)
fi
if [ ${#missing[@]} -gt 0 ]; then
  packages="$(printf '%s\n' "${missing[@]}" | sort -u | paste -sd ' ')"
  echo "build-cpp-peer: missing Debian packages: ${packages}" >&2
  echo "  install them with: sudo apt-get install -y capnproto libcapnp-dev g++ pkg-config" >&2
  echo "  (or run: bash scripts/setup.sh)" >&2
  exit 1
fi

if [ -x "$peer" ] && [ "$peer" -nt "$source_file" ] && [ "$peer" -nt "$schema" ] && [ "$peer" -nt "$0" ]; then
  echo "$peer"
  exit 0
fi

mkdir -p "$build_dir"
# Work in a private directory so that two builds running at once never see each other's half-written
# files; the finished binary is moved into place atomically.
work="$(mktemp -d "$build_dir/tmp.XXXXXX")"
trap 'rm -rf "$work"' EXIT
capnp compile --src-prefix="$root/capnp" -oc++:"$work" "$schema"
# shellcheck disable=SC2046  # pkg-config prints several flags that must split into words
g++ -std=c++17 -O2 -Wall -I"$work" -o "$work/peer" "$source_file" "$work/interop.capnp.c++" \
  $(pkg-config --cflags --libs capnp-rpc)
mv -f "$work/peer" "$peer"
echo "$peer"
