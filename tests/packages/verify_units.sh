#!/bin/bash
# verify_units.sh BIN_DIR -- `systemd-analyze verify` on the packages' units (debian/), in a
# throwaway root holding this machine's systemd units, the packages' settings files and
# the build's programs under their installed names: any warning (an unknown key, a missing
# program or file, a bad dependency) fails. Exit 77 (skipped) without systemd-analyze.
set -euo pipefail
bin=${1:?usage: verify_units.sh BIN_DIR}
here=$(cd "$(dirname "$0")" && pwd)
debian=$here/../../debian
command -v systemd-analyze >/dev/null || { echo "no systemd-analyze: skipped"; exit 77; }

root=$(mktemp -d /tmp/rn-units.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/lib/systemd/system" "$root/usr/bin" "$root/etc/default"
cp -a /lib/systemd/system/. "$root/lib/systemd/system/"
cp "$debian/rn-generator.service" "$debian/rn-gateway@.service" "$root/lib/systemd/system/"
cp "$debian/default/rn-generator" "$debian/default/rn-gateway" "$root/etc/default/"
cp "$bin/generator" "$root/usr/bin/rn-generator"
cp "$bin/gateway" "$root/usr/bin/rn-gateway"

out=$(systemd-analyze verify --root="$root" rn-generator.service rn-gateway@8080.service 2>&1)
if [ -n "$out" ]; then
  printf '%s\n' "$out"
  exit 1
fi
echo "rn-generator.service and rn-gateway@8080.service verified"
