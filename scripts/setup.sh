#!/usr/bin/env bash
# Installs everything ww's tests need on a fresh Debian machine, then the npm packages.
# Usage: bash scripts/setup.sh   (as root, or with sudo available)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  capnproto libcapnp-dev g++ pkg-config          # C++ Cap'n Proto reference peer (RPC interop tests)
  clang lld wasi-libc libclang-rt-14-dev-wasm32  # C guests (examples, WASI conformance tests)
  util-linux                                     # unshare, for the namespaced fork/exec baseline
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

npm ci
