#!/usr/bin/env bash
# test_plot.sh -- the published results and what shows them agree: bench/plot.sh turns every
# directory of bench/published/ into the PNGs committed there (byte for byte with the
# packages they were drawn with, drawn-with.txt; else the same files and sizes), every
# picture RESULTS.md shows is one of them, every table row a published run
# printed is in RESULTS.md as printed, a results file lacking a column is refused with
# exit 2 and one line naming it, and the floor's and nchan auto's results are drawn too.
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

# Every picture RESULTS.md (the only document with figures) shows is there.
for doc in "$here/RESULTS.md"; do
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
# A run with the floor and nchan auto beside ours and nchan (bench/run.sh since issue 22)
# draws their curves too: its pictures differ from the same run's without them.
for d in two four; do
  mkdir "$out/$d"
  servers="ours nchan"; [ $d = four ] && servers="ours floor nchan nchan-auto"
  echo "server,clients,connected,deliveries_per_s,cpu_per_million,rss_total_mb,rss_per_client_kb,p50_ms,p99_ms,missed,threads" \
    >"$out/$d/ramp.csv"
  for s in $servers; do
    # The same numbers for a server in both runs.
    case $s in ours) k=1 ;; nchan) k=2 ;; floor) k=3 ;; *) k=4 ;; esac
    printf 'latency_ms,fraction,events\n%d.0,0.5,1\n%d.0,1.0,2\n' $k $((k + 1)) >"$out/$d/cdf-multi-$s.csv"
    for n in 1000 2000; do
      echo "$s,$n,$n,$((2 * n)),$k.5,$((n / 100 + k)),12.0,$k.0,$((k + 2)).0,0,3" >>"$out/$d/ramp.csv"
    done
  done
  /usr/bin/python3 "$here/plot.py" "$out/$d" >/dev/null || fail "plot.py failed on a run with $servers"
done
for f in latency.png growth.png; do
  [ -s "$out/four/$f" ] || fail "no $f for a run with the floor and nchan auto"
  ! cmp -s "$out/two/$f" "$out/four/$f" || fail "$f shows no floor or nchan auto"
done
echo "test_plot: $(echo "$committed" | wc -l) pictures drawn again from bench/published"
