#!/usr/bin/env bash
# run.sh [--quick | SCENARIO...] -- the same SSE load against (a) our generator + one gateway and (b)
# nginx + nchan (Debian's packages, one worker: per core), on 127.0.0.1, in one go; one
# table per scenario with the ratio ours/nchan. Every run is bounded in time.
# The raw results (the tables as CSV, each run's JSON, latency CDFs, the ramp) go to
# bench/results/run-<timestamp>/, and bench/plot.sh draws them there as PNGs.
set -euo pipefail
cd "$(dirname "$0")/.."
# SCENARIO: 1000x100, 10000x1, 100x5000, max, storm, ramp (default: all six). RN_BENCH_GATEWAY_ARGS
# adds gateway flags, e.g. "--coalesce-ms 20"; RN_BENCH_RAMP the ramp's client counts.
quick=0; [ "${1:-}" = "--quick" ] && quick=1
only=" $* "
wanted() { [ "$only" = "  " ] || [[ "$only" == *" $1 "* ]]; }
results=$PWD/bench/results/run-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$results"

need=()
for p in nginx-light libnginx-mod-nchan curl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q "${need[@]}" >/dev/null
fi
systemctl stop nginx >/dev/null 2>&1 || true
cmake -B build -S . >/dev/null && cmake --build build -j"$(nproc)" >/dev/null
bin=$PWD/build/bin
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_s() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' /proc/"$p"/stat))); done; echo "$t"; }
rss_kb() { local t=0 p; for p in "$@"; do t=$((t + $(awk '/VmRSS/{print $2}' /proc/"$p"/status))); done; echo "$t"; }
wait_http() { for _ in $(seq 300); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }

# measure NAME CLIENTS RATE RAMP DURATION LOAD_ARGS... -- runs sse_load while sampling the
# server processes in $server_pids inside its measuring window: half a second in from
# each end, so neither the last connections nor the final mass disconnect are counted.
# Its JSON, with the server figures added, goes to $results/NAME.json.
measure() {
  local name=$1 clients=$2 rate=$3 ramp=$4 duration=$5; shift 5
  local settle; settle=$(/usr/bin/python3 -c "print($clients/$ramp + 1.5)")
  local rss0; rss0=$(rss_kb "${server_pids[@]}")
  "$bin/sse_load" --clients "$clients" --ramp-per-s "$ramp" --duration-s "$duration" --json "$@" \
    > "$results/$name.json" &
  local load=$!
  sleep "$settle"; local cpu0 t0; cpu0=$(cpu_s "${server_pids[@]}"); t0=$(date +%s.%N)
  local rss1; rss1=$(rss_kb "${server_pids[@]}")
  sleep "$((duration - 1))"; local cpu1 t1; cpu1=$(cpu_s "${server_pids[@]}"); t1=$(date +%s.%N)
  wait "$load"
  /usr/bin/python3 - "$results/$name.json" "$clients" "$rate" "$cpu0" "$cpu1" "$rss0" "$rss1" \
    "$t0" "$t1" <<'PY'
import json, sys
path, clients, rate, cpu0, cpu1, rss0, rss1, t0, t1 = sys.argv[1], *map(float, sys.argv[2:])
r = json.load(open(path))
hz = 100.0
r["events_per_s"] = rate
r["cpu_s"] = (cpu1 - cpu0) / hz
# Deliveries in the CPU window, at the rate the load client measured over its own.
window_deliveries = r["deliveries_per_s"] * (t1 - t0)
r["cpu_per_million"] = r["cpu_s"] / (window_deliveries / 1e6) if window_deliveries else float("nan")
r["rss_per_client_kb"] = (rss1 - rss0) / max(r["connected"], 1)
r["rss_total_mb"] = rss1 / 1024
json.dump(r, open(path, "w"))
PY
}

start_ours() { # CLIENTS RATE
  local bus http; bus=$(port); http=$(port)
  "$bin/generator" --bind "tcp://127.0.0.1:$bus" --interval-us $((1000000 / $2)) --log-level warn &
  local gen=$!
  "$bin/gateway" --listen "127.0.0.1:$http" --connect "tcp://127.0.0.1:$bus" \
    --history 8192 --log-level warn --drain-ms 0 \
    ${RN_BENCH_GATEWAY_ARGS:-} &
  local gw=$!
  pids+=("$gen" "$gw"); server_pids=("$gw" "$gen"); load_port=$http
  wait_http "http://127.0.0.1:$http/readyz"
}

# nginx counts more connections than sockets with nchan subscribers: with worker_connections
# at clients + 1,000, 15,000 subscribers made it "reuse" (close) the publisher's keep-alive
# connection, and publishing stopped. Twice the clients is room enough.
start_nchan() { # CLIENTS
  local http; http=$(port)
  mkdir -p "$work/nginx"
  cat > "$work/nginx/nginx.conf" <<NGINX
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes 1;
worker_rlimit_nofile 70000;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections $((2 * $1 + 1000)); }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $work/nginx/body;
  server {
    listen 127.0.0.1:$http;
    location = /sub { nchan_subscriber eventsource; nchan_channel_id numbers; nchan_message_buffer_length 8192; }
    location = /pub { nchan_publisher; nchan_channel_id numbers; nchan_message_buffer_length 8192; }
  }
}
NGINX
  nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' &
  local master=$!
  pids+=("$master"); load_port=$http
  for _ in $(seq 100); do pgrep -P "$master" >/dev/null && break; sleep 0.1; done
  server_pids=("$(pgrep -P "$master" | head -1)")
  wait_http "http://127.0.0.1:$http/pub" || true
}

stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }

# measure_both SLUG CLIENTS RATE RAMP DURATION -- measure ours, then nchan, with the same
# load; their JSON goes to $results/SLUG-{ours,nchan}.json, their latency CDFs beside it.
measure_both() {
  local slug=$1 clients=$2 rate=$3 ramp=$4 duration=$5
  start_ours "$clients" "$rate"
  measure "$slug-ours" "$clients" "$rate" "$ramp" "$duration" --port "$load_port" \
    --cdf "$results/cdf-$slug-ours"
  stop_all
  start_nchan "$clients"
  local total; total=$(/usr/bin/python3 -c "print(int($clients/$ramp + $duration + 4))")
  "$bin/nchan_pub" "$load_port" /pub "$rate" "$total" > "$work/pub.out" &
  pids+=($!)
  measure "$slug-nchan" "$clients" "$rate" "$ramp" "$duration" --port "$load_port" --path /sub --nchan \
    --cdf "$results/cdf-$slug-nchan"
  stop_all
  local f
  for f in "$results/cdf-$slug-ours.csv" "$results/cdf-$slug-nchan.csv"; do
    [ -s "$f" ] || echo "WARNING: no latency CDF $f (see sse_load's message above)" >&2
  done
}

# table SLUG TITLE: one table (markdown on stdout, rows appended to $results/tables.csv) from
# "label|ours|nchan" lines on stdin; the ratio is computed here.
table() {
  /usr/bin/python3 -c '
import csv, os, sys
slug, title, path = sys.argv[1:4]
new = not os.path.exists(path)
out = csv.writer(open(path, "a", newline=""))
if new:
    out.writerow(["scenario", "title", "metric", "ours", "nchan", "ours_per_nchan"])
print(f"\n### {title}\n\n| | ours | nchan | ours/nchan |\n|---|---|---|---|")
for line in sys.stdin:
    label, x, y = line.rstrip("\n").split("|")
    try:
        fx, fy = float(x), float(y)
        ratio = f"{fx / fy:.2f}" if fy else ("-" if fx == 0 else "inf")
    except ValueError:
        ratio = ""
    print(f"| {label} | {x} | {y} | {ratio} |")
    out.writerow([slug, title, label, x, y, ratio])
' "$1" "$2" "$results/tables.csv" | tee -a "$results/tables.md"
}

# scenario SLUG TITLE CLIENTS RATE RAMP DURATION
scenario() {
  local slug=$1 title=$2 clients=$3 rate=$4 ramp=$5 duration=$6
  echo "== $title: $clients clients x $rate events/s ($duration s measured)" >&2
  measure_both "$slug" "$clients" "$rate" "$ramp" "$duration"
  /usr/bin/python3 - "$results/$slug-ours.json" "$results/$slug-nchan.json" <<'PY' | table "$slug" "$title"
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
rows = [("clients connected", "connected", "{:.0f}"), ("events/s", "events_per_s", "{:.0f}"),
        ("deliveries/s", "deliveries_per_s", "{:.0f}"),
        ("server CPU s per million deliveries", "cpu_per_million", "{:.2f}"),
        ("latency p50 ms", "p50_ms", "{:.3f}"), ("latency p99 ms", "p99_ms", "{:.3f}"),
        ("latency p999 ms", "p999_ms", "{:.3f}"), ("latency max ms", "max_ms", "{:.3f}"),
        ("server RSS per client KiB", "rss_per_client_kb", "{:.1f}"),
        ("server RSS in all MiB", "rss_total_mb", "{:.0f}"),
        ("missed events", "missed", "{:.0f}"), ("duplicated events", "duplicated", "{:.0f}"),
        ("refused / failed / errors", None, None)]
for label, key, fmt in rows:
    if key is None:
        f = lambda r: f"{r['refused']} / {r['failed']} / {r['errors']}"
        print(f"{label}|{f(a)}|{f(b)}")
    else:
        print(f"{label}|{fmt.format(a[key])}|{fmt.format(b[key])}")
PY
}

# storm_measure NAME LOAD_ARGS... -- 1,000 steady clients at 1 event/s: their latency over 5
# quiet seconds, then while 15,000 new clients connect at 3,000/s (each window ends with a
# SIGUSR1 mark), plus the new clients' time to their first answer and event, and the
# server CPU in the storm window.
storm_measure() {
  local name=$1; shift
  "$bin/sse_load" --clients 1000 --ramp-per-s 1000 --duration-s 120 --json "$@" \
    --cdf "$work/cdf-storm-$name" > "$results/$name.steady.jsonl" &
  local steady=$!
  sleep 3; kill -USR1 "$steady"; sleep 5; kill -USR1 "$steady"
  local cpu0; cpu0=$(cpu_s "${server_pids[@]}")
  "$bin/sse_load" --clients 15000 --ramp-per-s 3000 --duration-s 2 --json "$@" \
    > "$results/$name.storm.json" &
  local storm=$!
  sleep 6; kill -USR1 "$steady"
  local cpu1; cpu1=$(cpu_s "${server_pids[@]}")
  wait "$storm"; kill -TERM "$steady"; wait "$steady" || true
  echo "{\"cpu_s\": $(( cpu1 - cpu0 ))}" > "$results/$name.cpu.json"
  # Mark 2 ends the quiet window, mark 3 the storm's: the steady clients' latency in each.
  mv "$work/cdf-storm-$name.mark2.csv" "$results/cdf-storm-quiet-$name.csv" &&
    mv "$work/cdf-storm-$name.mark3.csv" "$results/cdf-storm-during-$name.csv" ||
    echo "WARNING: sse_load wrote no latency CDF for the storm's windows ($name)" >&2
}

storm_scenario() {
  local title="storm: 15,000 new clients at 3,000/s beside 1,000 connected, 1 event/s"
  echo "== $title" >&2
  start_ours 17000 1
  storm_measure ours --port "$load_port"
  stop_all
  start_nchan 17000
  "$bin/nchan_pub" "$load_port" /pub 1 40 > "$work/pub.out" &
  pids+=($!)
  storm_measure nchan --port "$load_port" --path /sub --nchan
  stop_all
  /usr/bin/python3 - "$results" <<'PY' | table storm "$title"
import json, sys
work = sys.argv[1]
def load(name):
    lines = [json.loads(l) for l in open(f"{work}/{name}.steady.jsonl") if l.strip()]
    marks = [l for l in lines if "mark" in l]
    final = [l for l in lines if "clients" in l][-1]
    storm = json.load(open(f"{work}/{name}.storm.json"))
    cpu = json.load(open(f"{work}/{name}.cpu.json"))["cpu_s"] / 100.0
    return marks[1], marks[2], final, storm, cpu
(aq, as_, af, an, ac), (bq, bs, bf, bn, bc) = load("ours"), load("nchan")
def row(label, x, y, fmt="{:.1f}"):
    print(f"{label}|{fmt.format(x)}|{fmt.format(y)}")
row("steady p50 ms, no storm", aq["mark_latency_p50_ms"], bq["mark_latency_p50_ms"])
row("steady p99 ms, no storm", aq["mark_latency_p99_ms"], bq["mark_latency_p99_ms"])
row("steady p50 ms, during the storm", as_["mark_latency_p50_ms"], bs["mark_latency_p50_ms"])
row("steady p99 ms, during the storm", as_["mark_latency_p99_ms"], bs["mark_latency_p99_ms"])
row("steady max ms, during the storm", as_["mark_latency_max_ms"], bs["mark_latency_max_ms"])
row("steady events lost", af["missed"], bf["missed"], "{:.0f}")
row("new clients answered 200 (of 15,000)", an["first_answer_samples"], bn["first_answer_samples"], "{:.0f}")
row("new clients with an event", an["first_event_samples"], bn["first_event_samples"], "{:.0f}")
row("new: connect to 200, p50 ms", an["first_answer_p50_ms"], bn["first_answer_p50_ms"])
row("new: connect to 200, p99 ms", an["first_answer_p99_ms"], bn["first_answer_p99_ms"])
row("new: connect to first event, p50 ms", an["first_event_p50_ms"], bn["first_event_p50_ms"])
row("new: connect to first event, p99 ms", an["first_event_p99_ms"], bn["first_event_p99_ms"])
row("new: refused / failed", an["refused"] + an["failed"], bn["refused"] + bn["failed"], "{:.0f}")
row("server CPU s in the storm window (6 s)", ac, bc, "{:.2f}")
PY
}

# ramp_scenario CLIENTS... -- growth: both servers at 2 events/s for each client count in
# turn; a row per count and server in $results/ramp.csv.
ramp_scenario() {
  echo "== ramp: $* clients x 2 events/s" >&2
  local n
  echo "server,clients,connected,deliveries_per_s,cpu_per_million,rss_total_mb,rss_per_client_kb,p50_ms,p99_ms,missed" \
    > "$results/ramp.csv"
  for n in "$@"; do
    measure_both "ramp-$n" "$n" 2 1000 10
    /usr/bin/python3 - "$results" "$n" >> "$results/ramp.csv" <<'PY'
import json, sys
results, n = sys.argv[1:3]
for server in ("ours", "nchan"):
    r = json.load(open(f"{results}/ramp-{n}-{server}.json"))
    print(",".join([server, n, str(r["connected"])] + [f"{r[k]:.3f}" for k in ("deliveries_per_s",
          "cpu_per_million", "rss_total_mb", "rss_per_client_kb", "p50_ms", "p99_ms")] +
          [str(r["missed"])]))
PY
  done
  /usr/bin/python3 - "$results/ramp.csv" <<'PY' | tee -a "$results/tables.md"
import csv, sys
by = {}
for r in csv.DictReader(open(sys.argv[1])):
    by.setdefault(int(r["clients"]), {})[r["server"]] = {k: float(v) for k, v in r.items() if k != "server"}
print("\n### ramp: clients x 2 events/s\n")
print("| clients | connected ours / nchan | CPU s per 10^6 deliveries ours / nchan | RSS in all MiB "
      "ours / nchan | RSS per client KiB ours / nchan | p50 ms ours / nchan | p99 ms ours / nchan "
      "| missed |\n|---|---|---|---|---|---|---|---|")
for n, v in sorted(by.items()):
    a, b = v["ours"], v["nchan"]
    f = lambda k, fmt: f"{fmt.format(a[k])} / {fmt.format(b[k])}"
    ratio = f" ({a['cpu_per_million'] / b['cpu_per_million']:.2f}x)" if b["cpu_per_million"] > 0 else ""
    print(f"| {n:,} | {f('connected', '{:.0f}')} | {f('cpu_per_million', '{:.2f}')}{ratio} "
          f"| {f('rss_total_mb', '{:.0f}')} | {f('rss_per_client_kb', '{:.1f}')} "
          f"| {f('p50_ms', '{:.1f}')} | {f('p99_ms', '{:.1f}')} | {f('missed', '{:.0f}')} |")
PY
}

if [ $quick = 1 ]; then
  scenario 1000x100 "1,000 clients x 100 events/s (quick: 200 x 50)" 200 50 1000 5
  scenario 100x5000 "100 clients x 5,000 events/s (quick: 50 x 1,000)" 50 1000 1000 5
  ramp_scenario 100 500
else
  if wanted 1000x100; then scenario 1000x100 "1,000 clients x 100 events/s" 1000 100 2000 20; fi
  if wanted 10000x1; then scenario 10000x1 "10,000 clients x 1 event/s" 10000 1 1000 20; fi
  if wanted 100x5000; then scenario 100x5000 "100 clients x 5,000 events/s" 100 5000 1000 20; fi
  if wanted max; then
    scenario max "most concurrent clients (ramp to 20,000 x 1 event/s)" 20000 1 1000 10
  fi
  if wanted storm; then storm_scenario; fi
  # shellcheck disable=SC2086
  if wanted ramp; then ramp_scenario ${RN_BENCH_RAMP:-1000 2500 5000 10000 15000 20000}; fi
fi
echo
echo "ours = gateway + generator CPU and RSS; nchan = its one nginx worker (publishing included)."
echo "raw results: $results (bash bench/plot.sh $results draws them again)"
bash bench/plot.sh "$results" || echo "WARNING: no pictures drawn (the results are all there)" >&2
