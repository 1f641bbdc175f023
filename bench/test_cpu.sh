#!/usr/bin/env bash
# test_cpu.sh -- cpu_ns (cpu.sh) against the kernel's own count in clock ticks, for a
# process past 2.1 s of CPU: mawk's "%d" once stopped there, and the bench's CPU column
# read 0.00 from 10,000 clients on. Bounded: the busy loop is killed after 3.5 s (and on
# exit). Exit 77 (skipped) when a loaded machine gave it too little CPU to tell.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=cpu.sh
. "$here/cpu.sh"
sh -c 'while :; do :; done' &
busy=$!
trap 'kill "$busy" 2>/dev/null || true' EXIT
sleep 3.5
ns=$(cpu_ns "$busy")
ticks=$(awk '{print $14 + $15}' /proc/"$busy"/stat)
kill "$busy"
hz=$(getconf CLK_TCK)
/usr/bin/python3 - "$ns" "$ticks" "$hz" <<'PY'
import sys
ns, ticks, hz = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
by_ticks = ticks / hz
print(f"cpu_ns: {ns / 1e9:.3f} s; /proc/PID/stat: {by_ticks:.2f} s")
if by_ticks < 2.2:
    print("test_cpu: the busy loop got less than 2.2 s of CPU (a loaded machine): skipped")
    sys.exit(77)
if abs(ns / 1e9 - by_ticks) > 0.1 * by_ticks + 0.05:
    sys.exit(f"test_cpu: cpu_ns says {ns / 1e9:.3f} s where the kernel counts {by_ticks:.2f} s")
PY
