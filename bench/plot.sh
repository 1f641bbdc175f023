#!/usr/bin/env bash
# plot.sh [DIR...] [--out OUTDIR] -- draws benchmark results (the CSV bench/run.sh and
# bench/fault.sh write) as PNGs beside them, or in OUTDIR/<DIR's name>; without DIR, every directory of
# bench/published/ (the results RESULTS.md shows). Installs gnuplot-nox from
# Debian if it is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dirs=() out=()
while [ $# -gt 0 ]; do
  case $1 in
    --out) [ $# -ge 2 ] || { echo "plot.sh: --out needs a directory" >&2; exit 2; }; out=(--out "$2"); shift ;;
    -*) echo "plot.sh: unknown option $1" >&2; exit 2 ;;
    *) dirs+=("$1") ;;
  esac
  shift
done
# What draws the pictures, byte for byte; recorded beside the published ones (test_plot.sh).
drawn_with() {
  dpkg-query -W -f='${Package} ${Version}\n' gnuplot-nox libcairo2 libpango-1.0-0 \
    libpangocairo-1.0-0 fonts-dejavu-core fontconfig-config libpng16-16 2>/dev/null
}
published=0
if [ ${#dirs[@]} -eq 0 ]; then
  published=1
  for d in "$here"/published/*/; do dirs+=("${d%/}"); done
fi
for p in gnuplot-nox fonts-dejavu-core; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
      --no-install-recommends "$p" >/dev/null
done
for d in "${dirs[@]}"; do
  if [ ${#out[@]} -gt 0 ]; then
    /usr/bin/python3 "$here/plot.py" "$d" --out "${out[1]}/$(basename "$d")"
  else
    /usr/bin/python3 "$here/plot.py" "$d"
  fi
done
if [ $published = 1 ] && [ ${#out[@]} -eq 0 ]; then drawn_with >"$here/published/drawn-with.txt"; fi
