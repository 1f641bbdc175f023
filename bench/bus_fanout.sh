#!/usr/bin/env bash
# bus_fanout.sh [N...] -- how far one generator's bus fans out: one generator and N
# subscribers (the monitor, one process each, as a gateway subscribes) on 127.0.0.1, for
# N = 10 50 100 200 by default. Prints one table: the generator's CPU per second, the bus
# latency (publish time to each subscriber's receipt) p50 across subscribers and the worst
# p99, and events lost (gaps) over all of them. Bounded: each N runs RN_BUS_SECONDS (12).
set -euo pipefail
cd "$(dirname "$0")/.."
counts=("$@"); [ ${#counts[@]} -gt 0 ] || counts=(10 50 100 200)
rate=${RN_BUS_RATE:-100}          # events per second
seconds=${RN_BUS_SECONDS:-12}
cmake -B build -S . >/dev/null && cmake --build build -j"$(nproc)" >/dev/null
bin=$PWD/build/bin
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14+$15}' /proc/"$1"/stat; }

echo "| subscribers | generator CPU % | latency p50 ms (median of subscribers) | latency p99 ms (worst subscriber) | events lost | events received |"
echo "|---|---|---|---|---|---|"
for n in "${counts[@]}"; do
  bus=$(port)
  "$bin/generator" --bind "tcp://127.0.0.1:$bus" --interval-us $((1000000 / rate)) --log-level warn &
  gen=$!; pids=("$gen")
  for i in $(seq "$n"); do
    # Each prints its stats every 4 s; only the last complete interval is used.
    "$bin/monitor" --connect "tcp://127.0.0.1:$bus" --stats --json --stats-interval-ms 4000 \
      > "$work/m$i.jsonl" 2>/dev/null &
    pids+=($!)
  done
  sleep 3 # all subscribed
  t0=$(cpu_ticks "$gen")
  sleep "$((seconds - 3))"
  t1=$(cpu_ticks "$gen")
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
  /usr/bin/python3 - "$work" "$n" "$t0" "$t1" "$((seconds - 3))" <<'PY'
import glob, json, statistics, sys
work, n, t0, t1, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
p50s, p99s, lost, received, missing = [], [], 0, 0, 0
for path in glob.glob(f"{work}/m*.jsonl"):
    lines = [json.loads(l) for l in open(path) if l.strip().startswith("{")]
    if len(lines) < 2:
        missing += 1
        continue
    # The first interval holds the connect; the rest are steady.
    for l in lines[1:]:
        lost += l["gaps"]
        received += l["events"]
    last = lines[-1]
    p50s.append(last["latency_ms"]["p50"])
    p99s.append(last["latency_ms"]["p99"])
cpu = (t1 - t0) / 100.0 / secs * 100
note = f" ({missing} without two intervals)" if missing else ""
print(f"| {n}{note} | {cpu:.1f} | {statistics.median(p50s):.3f} | {max(p99s):.3f} | {lost} | {received} |")
PY
  rm -f "$work"/m*.jsonl
done
echo
echo "$rate events/s; generator, subscribers and kernel share this machine's $(nproc) cores."
