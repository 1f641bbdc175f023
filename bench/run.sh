#!/usr/bin/env bash
# run.sh [--quick | SCENARIO...] -- the same SSE load, on 127.0.0.1 in one go, against four
# servers in turn: ours (our generator and one gateway), the floor (bench/floor.c: one
# thread sending the same frames to the same clients, one non-blocking send() each, nothing
# else), nchan (nginx + nchan from Debian) with worker_processes 1, and nchan with
# worker_processes auto (one per core). A table per scenario with the ratios ours/floor,
# ours/nchan and ours/nchan auto, and the gateway's footprint (start to ready, idle RSS,
# growth per stream, threads, stop) in a table of its own. Every run is bounded in time.
# The raw results (the tables as CSV, each run's JSON, latency CDFs, the ramp) go to
# bench/results/run-<timestamp>/, and bench/plot.sh draws them there as PNGs.
set -euo pipefail
cd "$(dirname "$0")/.."
# SCENARIO: 1000x100, 10000x1, 100x5000, max, storm, ramp, multi, footprint (default: all).
# RN_BENCH_GATEWAY_ARGS adds gateway flags, e.g. "--coalesce-ms 20"; RN_BENCH_RAMP the
# ramp's client counts; RN_BENCH_SERVERS some of "ours floor nchan nchan-auto" (the tables
# show "-" for the others: for trying a scenario, not for publishing).
quick=0; [ "${1:-}" = "--quick" ] && quick=1
only=" $* "
wanted() { [ "$only" = "  " ] || [[ "$only" == *" $1 "* ]]; }
read -r -a servers <<<"${RN_BENCH_SERVERS:-ours floor nchan nchan-auto}"
for s in "${servers[@]}"; do
  case $s in ours | floor | nchan | nchan-auto) ;; *) echo "run.sh: unknown server $s" >&2; exit 2 ;; esac
done
began=$(date +%s)
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

py() { /usr/bin/python3 -c "$1"; }
port() { py 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# shellcheck source=cpu.sh
. bench/cpu.sh
rss_kb() { local t=0 p; for p in "$@"; do t=$((t + $(awk '/VmRSS/{print $2}' /proc/"$p"/status))); done; echo "$t"; }
threads_of() { local t=0 p; for p in "$@"; do t=$((t + $(awk '/^Threads/{print $2}' /proc/"$p"/status))); done; echo "$t"; }
wait_http() { for _ in $(seq 300); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }
wait_tcp() { # PORT: until something accepts there (30 s at most)
  py "import socket, sys, time
for _ in range(300):
    try:
        socket.create_connection(('127.0.0.1', $1), timeout=1).close(); sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)"
}

# The server being measured: its processes (CPU, RSS and threads are theirs, summed), the
# ports a load client connects to (one each) and what sse_load needs to read its stream.
server_pids=() load_ports=() load_args=()

start_ours() { # RATE INSTANCES: one generator, INSTANCES gateways
  local bus gen http i; bus=$(port)
  "$bin/generator" --bind "tcp://127.0.0.1:$bus" --interval-us $((1000000 / $1)) --log-level warn &
  gen=$!; pids+=("$gen")
  for ((i = 0; i < $2; i++)); do
    http=$(port)
    # shellcheck disable=SC2086
    "$bin/gateway" --listen "127.0.0.1:$http" --connect "tcp://127.0.0.1:$bus" \
      --history 8192 --log-level warn --drain-ms 0 ${RN_BENCH_GATEWAY_ARGS:-} &
    pids+=($!); server_pids+=($!); load_ports+=("$http")
  done
  server_pids+=("$gen")
  for http in "${load_ports[@]}"; do wait_http "http://127.0.0.1:$http/readyz"; done
}

start_floor() { # RATE SECONDS INSTANCES
  local i p
  for ((i = 0; i < $3; i++)); do
    p=$(port)
    "$bin/floor" "$p" "$1" "$2" >"$work/floor-$i.out" &
    pids+=($!); server_pids+=($!); load_ports+=("$p")
  done
  for p in "${load_ports[@]}"; do wait_tcp "$p"; done
}

# nginx counts more connections than sockets with nchan subscribers: with worker_connections
# at clients + 1,000, 15,000 subscribers made it "reuse" (close) the publisher's keep-alive
# connection, and publishing stopped. Twice the clients is room enough. Each instance has
# its own publisher (nchan_pub) at RATE.
start_nchan() { # CLIENTS WORKERS RATE SECONDS INSTANCES
  local want=$2 i http dir master
  [ "$2" = auto ] && want=$(nproc)
  for ((i = 0; i < $5; i++)); do
    http=$(port) dir=$work/nginx-$i
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<NGINX
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes $2;
worker_rlimit_nofile $(ulimit -n);
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections $((2 * $1 + 1000)); }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $dir/body;
  server {
    listen 127.0.0.1:$http;
    location = /sub { nchan_subscriber eventsource; nchan_channel_id numbers; nchan_message_buffer_length 8192; }
    location = /pub { nchan_publisher; nchan_channel_id numbers; nchan_message_buffer_length 8192; }
  }
}
NGINX
    nginx -c "$dir/nginx.conf" -g 'daemon off;' 2>>"$dir/error.log" &
    master=$!; pids+=("$master"); load_ports+=("$http")
    for _ in $(seq 100); do [ "$(pgrep -c -P "$master")" -ge "$want" ] && break; sleep 0.1; done
    mapfile -t -O "${#server_pids[@]}" server_pids < <(pgrep -P "$master")
    wait_tcp "$http"
    "$bin/nchan_pub" "$http" /pub "$3" "$4" >"$dir/pub.out" &
    pids+=($!)
  done
  load_args=(--path /sub --nchan)
}

start_server() { # SERVER CLIENTS RATE SECONDS INSTANCES
  server_pids=() load_ports=() load_args=()
  case $1 in
    ours) start_ours "$3" "$5" ;;
    floor) start_floor "$3" "$4" "$5" ;;
    nchan) start_nchan "$2" 1 "$3" "$4" "$5" ;;
    nchan-auto) start_nchan "$2" auto "$3" "$4" "$5" ;;
  esac
}

stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }

# measure NAME CLIENTS RATE RAMP DURATION -- a load client per port of the server (each
# CLIENTS streams) while the server processes are sampled inside the measuring window: half
# a second in from each end, so neither the last connections nor the final mass disconnect
# are counted. Their results added up (bench/combine.py), with the server figures, go to
# $results/NAME.json, the latency CDF to $results/cdf-NAME.csv.
#
# The deliveries the window's CPU is divided by are counted, not estimated: each load client
# is marked (SIGUSR1: it prints its counters) right before each CPU sample. At 2 events/s a
# 9 s window holds 18 or 19 of the bursts a sender's CPU comes in, so the rate times the
# window's length was off by up to one burst in 18 (5.5%), and differently for each run.
measure() {
  local name=$1 clients=$2 rate=$3 ramp=$4 duration=$5 i loads=() prefixes=()
  local settle; settle=$(py "print($clients/$ramp + 1.5)")
  local rss0; rss0=$(rss_kb "${server_pids[@]}")
  for i in "${!load_ports[@]}"; do
    "$bin/sse_load" --port "${load_ports[$i]}" --clients "$clients" --ramp-per-s "$ramp" \
      --duration-s "$duration" --json "${load_args[@]}" --cdf "$work/$name.load$i" \
      >"$work/$name.load$i.json" &
    loads+=($!); prefixes+=("$work/$name.load$i")
  done
  sleep "$settle"; kill -USR1 "${loads[@]}"
  local cpu0; cpu0=$(cpu_ns "${server_pids[@]}")
  local rss1 threads; rss1=$(rss_kb "${server_pids[@]}"); threads=$(threads_of "${server_pids[@]}")
  sleep "$((duration - 1))"; kill -USR1 "${loads[@]}"
  local cpu1; cpu1=$(cpu_ns "${server_pids[@]}")
  wait "${loads[@]}"
  # Each load client's output: its two marks, then its summary (what combine.py reads).
  local marks=$work/$name.marks p; : >"$marks"
  for p in "${prefixes[@]}"; do
    { grep '"mark":' "$p.json" || true; } >>"$marks"
    { grep -v '"mark":' "$p.json" || true; } >"$p.summary"; mv "$p.summary" "$p.json"
  done
  /usr/bin/python3 bench/combine.py "$work/$name" "${prefixes[@]}"
  mv "$work/$name.json" "$results/$name.json"
  mv "$work/$name.csv" "$results/cdf-$name.csv" 2>/dev/null || true
  /usr/bin/python3 - "$results/$name.json" "$marks" "${#loads[@]}" "$rate" "$cpu0" "$cpu1" \
    "$rss0" "$rss1" "$threads" "${#server_pids[@]}" <<'PY'
import json, sys
path, marks_path, loads = sys.argv[1], sys.argv[2], int(sys.argv[3])
rate, cpu0, cpu1, rss0, rss1, threads, procs = map(float, sys.argv[4:])
r = json.load(open(path))
r["events_per_s"] = rate
r["cpu_s"] = (cpu1 - cpu0) / 1e9
# Deliveries in the CPU window: each load client's events between its two marks.
marks = [json.loads(line) for line in open(marks_path)]
if len(marks) != 2 * loads or any(m["mark"] not in (1, 2) for m in marks):
    sys.exit(f"run.sh: {marks_path}: {len(marks)} marks from {loads} load clients, not 2 each")
window_deliveries = sum(m["events"] * (1 if m["mark"] == 2 else -1) for m in marks)
r["window_deliveries"] = window_deliveries
r["cpu_per_million"] = r["cpu_s"] / (window_deliveries / 1e6) if window_deliveries else float("nan")
r["rss_per_client_kb"] = (rss1 - rss0) / max(r["connected"], 1)
r["rss_total_mb"] = rss1 / 1024
r["threads"] = threads
r["server_processes"] = procs
json.dump(r, open(path, "w"))
PY
}

# The ratio ours/floor is the figure that matters, and this machine drifts by 10-15% over
# minutes: so ours and the floor are measured twice, in the order ours floor ... floor ours,
# and each one's CPU per delivery is the mean of its two runs, whose midpoints coincide (a
# drift linear in time cancels out). Everything else in a table is the first run's.
twice=0
if [[ " ${servers[*]} " == *" ours "* && " ${servers[*]} " == *" floor "* ]]; then twice=1; fi

# measure_one SERVER NAME CLIENTS RATE RAMP DURATION INSTANCES SECONDS
measure_one() {
  local server=$1 name=$2
  start_server "$server" "$3" "$4" "$8" "$7"
  measure "$name" "$3" "$4" "$5" "$6"
  stop_all
  if [ "$server" = floor ]; then
    cat "$work"/floor-*.out >"$results/$name.sender.jsonl"; rm -f "$work"/floor-*.out
  fi
  [ -s "$results/cdf-$name.csv" ] ||
    echo "WARNING: no latency CDF $results/cdf-$name.csv (see sse_load's message above)" >&2
}

# measure_all SLUG CLIENTS RATE RAMP DURATION [INSTANCES] -- the same load on each server in
# turn (INSTANCES of it, each with its own load client); $results/SLUG-SERVER.json and
# cdf-SLUG-SERVER.csv for each, and SLUG-SERVER.2.json for the second run of ours and the
# floor.
measure_all() {
  local slug=$1 clients=$2 rate=$3 ramp=$4 duration=$5 instances=${6:-1} server seconds
  seconds=$(py "print(int($clients/$ramp + $duration + 4))")
  local load=("$clients" "$rate" "$ramp" "$duration" "$instances" "$seconds")
  for server in "${servers[@]}"; do measure_one "$server" "$slug-$server" "${load[@]}"; done
  [ $twice = 1 ] || return 0
  for server in floor ours; do measure_one "$server" "$slug-$server.2" "${load[@]}"; done
  /usr/bin/python3 - "$results/$slug" <<'PY'
import json, sys
for server in ("ours", "floor"):
    first_path = f"{sys.argv[1]}-{server}.json"
    first, second = json.load(open(first_path)), json.load(open(f"{sys.argv[1]}-{server}.2.json"))
    runs = [first["cpu_per_million"], second["cpu_per_million"]]
    first["cpu_per_million_runs"] = runs
    first["cpu_per_million"] = sum(runs) / 2
    json.dump(first, open(first_path, "w"))
PY
}

# scenario SLUG TITLE CLIENTS RATE RAMP DURATION [INSTANCES]
scenario() {
  local slug=$1 title=$2
  echo "== $title ($6 s measured)" >&2
  measure_all "$slug" "$3" "$4" "$5" "$6" "${7:-1}"
  /usr/bin/python3 bench/tables.py scenario "$results" "$slug" "$title"
}

# storm_measure SERVER STEADY NEW NEW_PER_S -- STEADY clients at 1 event/s: their latency
# over 5 quiet seconds, then while NEW clients connect at NEW_PER_S (each window ends with
# a SIGUSR1 mark), plus the new clients' time to their first answer and event, and the
# server CPU in the storm window.
storm_measure() {
  local name=$1 steady=$2 new=$3 per_s=$4
  "$bin/sse_load" --port "${load_ports[0]}" --clients "$steady" --ramp-per-s 1000 --duration-s 120 \
    --json "${load_args[@]}" --cdf "$work/cdf-storm-$name" >"$results/$name.steady.jsonl" &
  local steady_pid=$!
  sleep 3; kill -USR1 "$steady_pid"; sleep 5; kill -USR1 "$steady_pid"
  local cpu0; cpu0=$(cpu_ns "${server_pids[@]}")
  "$bin/sse_load" --port "${load_ports[0]}" --clients "$new" --ramp-per-s "$per_s" --duration-s 2 \
    --json "${load_args[@]}" >"$results/$name.storm.json" &
  local storm=$!
  sleep "$((new / per_s + 1))"; kill -USR1 "$steady_pid"
  local cpu1; cpu1=$(cpu_ns "${server_pids[@]}")
  wait "$storm"; kill -TERM "$steady_pid"; wait "$steady_pid" || true
  echo "{\"cpu_s\": $(py "print(($cpu1 - $cpu0) / 1e9)")}" >"$results/$name.cpu.json"
  # Mark 2 ends the quiet window, mark 3 the storm's: the steady clients' latency in each.
  mv "$work/cdf-storm-$name.mark2.csv" "$results/cdf-storm-quiet-$name.csv" &&
    mv "$work/cdf-storm-$name.mark3.csv" "$results/cdf-storm-during-$name.csv" ||
    echo "WARNING: sse_load wrote no latency CDF for the storm's windows ($name)" >&2
}

storm_scenario() { # STEADY NEW NEW_PER_S
  local steady=$1 new=$2 per_s=$3 server
  local title; title=$(py "print(f'storm: {$new:,} new clients at {$per_s:,}/s beside {$steady:,} connected, 1 event/s')")
  echo "== $title" >&2
  for server in "${servers[@]}"; do
    start_server "$server" $((steady + new)) 1 40 1
    storm_measure "$server" "$steady" "$new" "$per_s"
    stop_all
  done
  /usr/bin/python3 bench/tables.py storm "$results" "$title" "$((new / per_s + 1))" "$new"
}

# ramp_scenario DURATION CLIENTS... -- growth: every server at 2 events/s for each client
# count in turn; a row per count and server in $results/ramp.csv.
ramp_scenario() {
  local duration=$1 n; shift
  echo "== ramp: $* clients x 2 events/s" >&2
  for n in "$@"; do measure_all "ramp-$n" "$n" 2 1000 "$duration"; done
  /usr/bin/python3 bench/tables.py ramp "$results" "$@"
}

# footprint_scenario CLIENTS -- the gateway alone against a generator at 1 event/s: start to
# ready, idle RSS and threads, RSS and threads with CLIENTS streams, stop (bench/footprint.py).
footprint_scenario() {
  echo "== footprint: one gateway, start, idle, $1 streams, stop" >&2
  local bus; bus=$(port)
  "$bin/generator" --bind "tcp://127.0.0.1:$bus" --interval-us 1000000 --heartbeat-ms 1000 \
    --log-level warn &
  pids+=($!)
  /usr/bin/python3 bench/footprint.py --bin "$bin" --bus "tcp://127.0.0.1:$bus" \
    --heartbeat-ms 1000 --clients "$1" --out "$results/footprint.json"
  stop_all
  /usr/bin/python3 bench/tables.py footprint "$results"
}

# The open-file limit is per process (20,000 hard on this machine kind): a gateway holds at
# most that less what it keeps for itself (116 files at 2 writers: gateway/README.md), and so
# does a load client. multi is the most one machine holds with three of each.
per_process=$(($(ulimit -Hn) - 120))
multi_each=$((per_process < 19880 ? per_process : 19880))
if [ $quick = 1 ]; then
  scenario 1000x100 "1,000 clients x 100 events/s (quick: 200 x 50)" 200 50 1000 5
  scenario 100x5000 "100 clients x 5,000 events/s (quick: 50 x 1,000)" 50 1000 1000 5
  ramp_scenario 5 100 500
  storm_scenario 100 1000 1000
  scenario multi "three gateways x 300 clients x 1 event/s (quick)" 300 1 1000 5 3
  footprint_scenario 1000
else
  if wanted 1000x100; then scenario 1000x100 "1,000 clients x 100 events/s" 1000 100 2000 20; fi
  if wanted 10000x1; then scenario 10000x1 "10,000 clients x 1 event/s" 10000 1 1000 20; fi
  if wanted 100x5000; then scenario 100x5000 "100 clients x 5,000 events/s" 100 5000 1000 20; fi
  if wanted max; then
    scenario max "most concurrent clients (ramp to 20,000 x 1 event/s)" 20000 1 1000 10
  fi
  if wanted storm; then storm_scenario 1000 15000 3000; fi
  # shellcheck disable=SC2086
  if wanted ramp; then ramp_scenario 10 ${RN_BENCH_RAMP:-1000 2500 5000 10000 15000 20000}; fi
  if wanted multi; then
    scenario multi "three gateways x $(py "print(f'{$multi_each:,}')") clients x 1 event/s" \
      "$multi_each" 1 1000 20 3
  fi
  if wanted footprint; then footprint_scenario "$multi_each"; fi
fi
echo
echo "ours = gateway(s) + generator; floor = bench/floor.c; nchan 1 worker = its nginx worker;"
echo "nchan auto = worker_processes auto, its $(nproc) workers (publishing included in nchan's CPU)."
echo "multi: three of each server (nchan: three nginx, each with its own publisher), a load client each."
echo "raw results: $results (bash bench/plot.sh $results draws them again)"
echo "took $(($(date +%s) - began)) s"
bash bench/plot.sh "$results" || echo "WARNING: no pictures drawn (the results are all there)" >&2
