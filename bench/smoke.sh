#!/usr/bin/env bash
# smoke.sh BIN_DIR -- a few hundred SSE clients against one gateway for a few seconds:
# every client connected, no error, no missed and no duplicated event, and the latency CDF
# it writes for bench/plot.sh agrees with its own percentiles. Then the same clients
# against the floor (bench/floor.c), which must serve them as the gateway does, and its
# count of frames it could not send must be zero. Not a speed test.
set -euo pipefail
bin=$1
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
bus=$(port) http=$(port)
"$bin/generator" --bind "tcp://127.0.0.1:$bus" --interval-ms 20 2>/dev/null &
gen=$!
"$bin/gateway" --listen "127.0.0.1:$http" --connect "tcp://127.0.0.1:$bus" --threads 400 \
  --drain-ms 0 2>/dev/null &
gw=$!
cdf=$(mktemp -d)
trap 'kill $gw $gen 2>/dev/null; wait; rm -rf "$cdf"' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$http/readyz" >/dev/null && break; sleep 0.1; done
out=$("$bin/sse_load" --port "$http" --clients 300 --ramp-per-s 1000 --duration-s 4 --json \
  --cdf "$cdf/latency" | tee "$cdf/latency.json")
echo "$out"
/usr/bin/python3 - "$out" "$cdf/latency.csv" <<'PY'
import csv, json, sys
r = json.loads(sys.argv[1])
rows = [(float(x["latency_ms"]), int(x["events"])) for x in csv.DictReader(open(sys.argv[2]))]
problems = [k for k in ("refused", "failed", "errors", "missed", "duplicated") if r[k]]
if r["connected"] != 300: problems.append(f"connected {r['connected']} of 300")
if r["deliveries"] < 300 * 4 * 40: problems.append(f"only {r['deliveries']} deliveries")
if any(b[0] < a[0] or b[1] <= a[1] for a, b in zip(rows, rows[1:])): problems.append("CDF not rising")
total = rows[-1][1] if rows else 0
if not rows or rows[-1][0] != r["max_ms"]: problems.append(f"CDF ends at {rows[-1:]}, max {r['max_ms']}")
for p, key in ((50, "p50_ms"), (99, "p99_ms"), (999, "p999_ms")):
    want = -(-p * total // (100 if p < 100 else 1000))  # at least p of the events: the ceiling
    at = next((ms for ms, n in rows if n >= want), None)
    if at != r[key]: problems.append(f"CDF gives {at} ms for {key}, the summary {r[key]} ms")
sys.exit(f"smoke: {problems}" if problems else 0)
PY

# The floor: what bench/run.sh compares the gateway with must be read as the gateway's
# stream is, every event, and count what it could not send.
floor_port=$(port)
"$bin/floor" "$floor_port" 50 30 >"$cdf/floor.json" &
floor=$!
trap 'kill $gw $gen $floor 2>/dev/null; wait; rm -rf "$cdf"' EXIT
for _ in $(seq 100); do
  /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $floor_port)).close()" \
    2>/dev/null && break
  sleep 0.1
done
out=$("$bin/sse_load" --port "$floor_port" --clients 300 --ramp-per-s 1000 --duration-s 3 --json \
  --cdf "$cdf/floor-load" | tee "$cdf/floor-load.json")
kill -TERM $floor && wait $floor
echo "$out"; cat "$cdf/floor.json"
/usr/bin/python3 - "$out" "$cdf/floor.json" <<'PY'
import json, sys
r, f = json.loads(sys.argv[1]), json.load(open(sys.argv[2]))
problems = [k for k in ("refused", "failed", "errors", "missed", "duplicated") if r[k]]
if r["connected"] != 300: problems.append(f"connected {r['connected']} of 300")
if r["deliveries"] < 300 * 3 * 40: problems.append(f"only {r['deliveries']} deliveries")
if r["p99_ms"] <= 0: problems.append("no latency measured")
problems += [f"floor: {k} {f[k]}" for k in ("unsent", "partial", "accept_failed") if f[k]]
if f["sent"] < r["events"]: problems.append(f"floor sent {f['sent']}, the clients read {r['events']}")
sys.exit(f"smoke (floor): {problems}" if problems else 0)
PY

# bench/combine.py adds up load clients that ran side by side (run.sh's multi): here the two
# runs above, as if one client had held all 600 streams.
/usr/bin/python3 "$(dirname "$0")/combine.py" "$cdf/both" "$cdf/latency" "$cdf/floor-load"
/usr/bin/python3 - "$cdf" <<'PY'
import csv, json, sys
d = sys.argv[1]
a, b, c = (json.load(open(f"{d}/{n}.json")) for n in ("latency", "floor-load", "both"))
last = lambda n: int(list(csv.DictReader(open(f"{d}/{n}.csv")))[-1]["events"])
problems = [k for k in ("connected", "deliveries", "missed") if c[k] != a[k] + b[k]]
if c["max_ms"] != max(a["max_ms"], b["max_ms"]): problems.append("max_ms")
for k in ("p50_ms", "p99_ms"):
    if not min(a[k], b[k]) <= c[k] <= max(a[k], b[k]): problems.append(k)
if last("both") != last("latency") + last("floor-load"): problems.append("CDF events")
sys.exit(f"smoke (combine): {problems}" if problems else 0)
PY
