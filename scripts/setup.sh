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

# Go 1.23 (GOOS=wasip1, for examples/echo-go): bookworm's own Go is 1.19, which has no wasip1 port, so it
# comes from bookworm-backports (golang-1.23-go installs to /usr/lib/go-1.23). The backports suite is added
# only if no apt source names it yet; backports' default pin (100) keeps it from upgrading anything else.
GO_PACKAGE=golang-1.23-go
if [ ! -x /usr/lib/go-1.23/bin/go ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  if ! grep -Eqs '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; then
    echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-backports main' \
      | $SUDO tee /etc/apt/sources.list.d/ww-backports.list >/dev/null
  fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "$GO_PACKAGE"
fi

npm ci
