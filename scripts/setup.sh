#!/usr/bin/env bash
# Installs everything ww's tests and the READMEs' commands need on a fresh Debian bookworm machine,
# then the npm packages. Safe to run again: it installs only what is missing.
# Usage: bash scripts/setup.sh   (as root, or with sudo available)
set -euo pipefail

APT_PACKAGES=(
  capnproto libcapnp-dev g++ pkg-config          # C++ Cap'n Proto reference peer (RPC interop tests)
  clang lld wasi-libc libclang-rt-14-dev-wasm32  # C guests (examples, WASI conformance tests)
  util-linux                                     # unshare (namespaced fork/exec baseline), setpriv (the other-uid test)
  netcat-openbsd                                 # nc, to talk to examples/echo-go (README, examples/README.md)
  iproute2                                       # ip netns, veth and bridges for cluster-tests/
  etcd-server etcd-client                        # a known-good Raft: histories that check the linearizability checker
  golang-mvdan-sh-dev                            # mvdan.cc/sh's sources, built into examples/argo-images/sh (no Go module proxy needed)
)

# Go 1.23 (GOOS=wasip1, for examples/echo-go): bookworm's own Go is 1.19, which has no wasip1 port, so it
# comes from bookworm-backports (golang-1.23-go installs to /usr/lib/go-1.23).
DEBIAN_SUITE=bookworm
GO_PACKAGE=golang-1.23-go
# Where apt's configuration is (a test points it at sample sources).
APT_ETC=${APT_ETC:-/etc/apt}

# Prints "URI [KEYRING]" of the first enabled `deb` source for Debian's main suite, from the sources in
# either format: one-line (sources.list, *.list: `deb [signed-by=K] URI SUITE COMPONENT...`) or deb822
# (*.sources: `Types:`, `URIs:`, `Suites:`, `Signed-By:` stanzas). KEYRING only when it is a file path.
# Prints nothing when there is none.
debian_source() {
  local suite=$1 list_files=() deb822_files=() f
  for f in "$APT_ETC/sources.list" "$APT_ETC"/sources.list.d/*.list; do [ -f "$f" ] && list_files+=("$f"); done
  for f in "$APT_ETC"/sources.list.d/*.sources; do [ -f "$f" ] && deb822_files+=("$f"); done
  {
    if [ ${#deb822_files[@]} -gt 0 ]; then
      # A blank line after each file ends its last stanza (plain awk has no end-of-file rule).
      for f in "${deb822_files[@]}"; do cat "$f"; echo; done | awk -v suite="$suite" '
        function flush() {
          if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && tolower(enabled) != "no" && uri != "") {
            print uri (keyring ~ /^\// ? " " keyring : "")
          }
          types = suites = uri = keyring = enabled = ""; field = ""
        }
        /^[ \t]*$/ { flush(); next }
        /^#/ { next }
        /^[ \t]/ { next }                                  # a continuation line (e.g. an inline key)
        {
          split($0, kv, ":"); field = tolower(kv[1]); value = substr($0, length(kv[1]) + 2)
          gsub(/^[ \t]+|[ \t]+$/, "", value); gsub(/[ \t]+/, " ", value)
          if (field == "types") types = value
          else if (field == "suites") suites = value
          else if (field == "uris") { split(value, u, " "); uri = u[1] }
          else if (field == "signed-by") keyring = value
          else if (field == "enabled") enabled = value
        }
        END { flush() }
      '
    fi
    if [ ${#list_files[@]} -gt 0 ]; then
      awk -v suite="$suite" '
        $1 == "deb" {
          i = 2; keyring = ""
          if ($2 ~ /^\[/) {                                # options: [arch=amd64 signed-by=/path ...]
            for (; i <= NF; i++) {
              opt = $i; gsub(/[\[\]]/, "", opt)
              if (opt ~ /^signed-by=/) keyring = substr(opt, 11)
              if ($i ~ /\]$/) { i++; break }
            }
          }
          if ($(i + 1) == suite) print $i (keyring ~ /^\// ? " " keyring : "")
        }
      ' "${list_files[@]}"
    fi
  } | head -n 1
}

# Adds SUITE-backports from the mirror this machine already uses for SUITE, unless a source names it.
# Backports' default pin (100) keeps it from upgrading anything else.
add_backports() {
  local suite=$1 sudo=$2 source uri keyring
  if grep -Eqs "^[^#]*${suite}-backports" "$APT_ETC/sources.list" "$APT_ETC"/sources.list.d/*.list "$APT_ETC"/sources.list.d/*.sources; then
    return 0
  fi
  source=$(debian_source "$suite")
  if [ -z "$source" ]; then
    echo "setup.sh: no apt source for Debian $suite found in $APT_ETC; add $suite-backports yourself, then run this again" >&2
    return 1
  fi
  read -r uri keyring <<<"$source"
  {
    echo 'Types: deb'
    echo "URIs: $uri"
    echo "Suites: $suite-backports"
    echo 'Components: main'
    if [ -n "${keyring:-}" ]; then echo "Signed-By: $keyring"; fi
  } | $sudo tee "$APT_ETC/sources.list.d/ww-backports.sources" >/dev/null
}

main() {
  cd "$(dirname "$0")/.."
  local sudo="" missing=() p
  [ "$(id -u)" -ne 0 ] && sudo="sudo"

  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi

  if [ ! -x /usr/lib/go-1.23/bin/go ]; then
    add_backports "$DEBIAN_SUITE" "$sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$GO_PACKAGE"
  fi

  npm ci
}

# Sourced (by a test), it only defines the functions above: `return` works only in a sourced file.
if ! (return 0 2>/dev/null); then main "$@"; fi
