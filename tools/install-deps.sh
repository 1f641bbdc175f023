#!/usr/bin/env bash
# install-deps.sh -- installs, from Debian's packages, what building (and with --test,
# testing) this project needs; a no-op for what is already there. Run as root.
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libzmq3-dev libcivetweb-dev libprotobuf-c-dev
            protobuf-c-compiler libsystemd-dev curl ca-certificates)
test_pkgs=(chromium python3 python3-zmq python3-protobuf protobuf-compiler clang iproute2 procps
           libclang-rt-14-dev haproxy prometheus clang-format gnuplot-nox fonts-dejavu-core
           debhelper lintian)

want=("${build_pkgs[@]}")
[ "${1:-}" = "--test" ] && want+=("${test_pkgs[@]}")
# The machine may bring its own Node.js; only without one do we take Debian's.
command -v npm >/dev/null 2>&1 || want+=(nodejs npm)

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
