#!/usr/bin/env bash
# test_plot.sh -- the published results and what shows them agree: bench/plot.sh turns every
# directory of bench/published/ into the PNGs committed there (byte for byte with the
# packages they were drawn with, drawn-with.txt; else the same files and sizes), every
# picture RESULTS.md and the README show is one of them, every table row a published run
# printed is in RESULTS.md as printed, and a results file lacking a column is refused with
# exit 2 and one line naming it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail() { echo "test_plot: $*" >&2; exit 1; }
png_size() { # FILE -> "WIDTHxHEIGHT" from the PNG header, or nothing
  /usr/bin/python3 -c '
import struct, sys
head = open(sys.argv[1], "rb").read(24)
if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
    print("%dx%d" % struct.unpack(">II", head[16:24]))' "$1"
}

bash "$here/plot.sh" --out "$out" >/dev/null
# Bytes are compared where the packages that drew the committed pictures draw them now.
same_gnuplot=0
dpkg-query -W -f='${Package} ${Version}\n' $(awk '{print $1}' "$here/published/drawn-with.txt") \
  2>/dev/null | cmp -s - "$here/published/drawn-with.txt" && same_gnuplot=1
committed=$(cd "$here/published" && ls -- */*.png | sort)
drawn=$(cd "$out" && ls -- */*.png | sort)
[ -n "$committed" ] || fail "no PNG in bench/published"
[ "$committed" = "$drawn" ] || fail "drawn: $(echo $drawn); committed: $(echo $committed)"
for f in $committed; do
  want=$(png_size "$here/published/$f") got=$(png_size "$out/$f")
  [ -n "$got" ] && [ "$got" = "$want" ] || fail "$f: drawn ${got:-not a PNG}, committed $want"
  [ $same_gnuplot = 0 ] || cmp -s "$here/published/$f" "$out/$f" ||
    fail "$f is not what its CSV draws: run bash bench/plot.sh and commit the pictures"
done
[ $same_gnuplot = 1 ] ||
  echo "test_plot: not the packages of bench/published/drawn-with.txt: sizes compared, not bytes"

# The tables in RESULTS.md are the published runs' own.
for table in "$here"/published/*/table*.md; do
  while IFS= read -r row; do
    grep -qxF -- "$row" "$here/RESULTS.md" || fail "RESULTS.md lacks this row of $table: $row"
  done < <(grep '^|' "$table")
done

# Every picture the documents show is there.
for doc in "$here/RESULTS.md" "$here/../README.md"; do
  refs=$(grep -o '([^)]*published/[^)]*\.png)' "$doc" | tr -d '()') || fail "$doc shows no picture"
  for r in $refs; do
    [ -f "$(dirname "$doc")/$r" ] || fail "$doc shows $r, which is not there"
  done
done

mkdir "$out/bad"
printf 'server,clients\nours,1000\n' >"$out/bad/ramp.csv"
set +e
msg=$(/usr/bin/python3 "$here/plot.py" "$out/bad" 2>&1)
rc=$?
set -e
[ $rc = 2 ] || fail "a ramp.csv without its columns: exit $rc, not 2"
[[ $msg == "plot: $out/bad/ramp.csv: no column connected, deliveries_per_s, cpu_per_million, rss_total_mb, p99_ms" ]] ||
  fail "a ramp.csv without its columns: '$msg'"
[ ! -e "$out/bad/growth.png" ] || fail "a picture drawn from a broken ramp.csv"
echo "test_plot: $(echo "$committed" | wc -l) pictures drawn again from bench/published"
