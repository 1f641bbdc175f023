#!/usr/bin/env bash
# fault.sh [--quick] [--clients N] [options] -- the fault benchmark on the compose stack:
# the generator pair + 3 gateways + HAProxy (deploy/compose/compose.yaml, project
# `rnfault`, the balancer published on 127.0.0.1:18480 only), `sse_load --reconnect` with
# N clients (default 2000; --quick: 300) streaming through the balancer, and then, one
# after the other with a pause between them, every operation bounded in time:
#
#   rolling   `docker restart` of every gateway, one at a time, each after the previous one
#             is back in the balancer (its /readyz checked UP by HAProxy)
#   kill      `docker kill` of the busiest gateway (no drain), then `docker start` of it
#   scale     `up -d --scale gateway=5 --no-recreate`, then back to 3
#   generator `docker restart` of the active generator: gen-stop and gen-return in one (the
#             passive takes over in the same epoch, the old active comes back as passive);
#             with --single (one generator, compose.single.yaml) a new epoch, as before
#   gen-kill  `docker kill` of the active generator: the passive takes over on the gateways'
#             votes. The killed one stays down until gen-return
#   gen-stop  `docker stop` of the active generator (SIGTERM): the same; stays down
#   peer-cut  the generators' own network (`peer`) disconnected from the passive for
#             --peer-cut-s (10 s), then connected again with its alias: both still reach the
#             gateways, so no takeover may happen and no id may get two values
#   gen-return `docker start` of the generator gen-kill or gen-stop left down (when none is,
#             the passive is stopped first, outside the measured interval): it joins as the
#             passive, nothing visible to clients
#   buscut    the busiest gateway's bus cut for --cut-s (30 s): TCP to and from port 5556 dropped
#             by iptables inside the gateway's network namespace. Only the bus: compose.yaml
#             puts gateways and generators on one network, so a network disconnect cannot
#             spare HTTP
#   netcut    `docker network disconnect` of the busiest gateway from that one network for --cut-s,
#             then `network connect` with its aliases: this cuts the bus AND its HTTP side
#             (the balancer's connections and health checks to it)
#
# gen-kill, gen-stop and peer-cut need both generators: when the one before left a
# generator down, a gen-return runs first, as a row of its own. gen-* and peer-cut need
# the pair (not --single).
#
# "The busiest": the gateway with the most SSE streams (rn_gateway_sse_clients), so that a
# fault always hits streams. "The active generator": the source whose
# rn_gateway_generator_active is 1 in the gateways' metrics (what their heartbeats say).
# Per operation (from its start to the start of the next one, pause included) it prints a
# markdown table row: the streams it hit directly (on the gateways restarted, killed,
# scaled away or cut; all for the generator ops), events lost and duplicated, ids received
# with two values (conflicts, across all clients), resets by reason, reconnects, answers
# other than 200, reconnect time p50/p99 (stream end to the first byte of the next 200: the
# retry delay, 2 s +-30%, included), peak reconnects/s (the largest per-second increase in
# the timeline), the longest gap between two events of one client (the period, 1 s, when
# nothing happens; a takeover adds the failover time), takeovers (the generators'
# `takeover` log lines: each one is also counted in that member's heartbeat, which restarts
# at 0 with the process), streams stalled (no byte for 20 s) at most.
# The raw timeline (one line a second) goes to bench/results/fault-<timestamp>/ as CSV and
# JSON lines, with the streams on each gateway (a line per gateway a second) and the
# operations' log; bench/plot.sh draws it there (fault.png). The stack is always torn down.
#
# Options: --clients N, --quick, --pause-s S (after an operation has settled; default 10,
# quick 5), --cut-s S (30), --peer-cut-s S (10), --ops "rolling kill ..." (a subset, in that
# order), --single (one generator: compose.single.yaml), --rev REV (build the images from a
# git revision instead of the working tree), --keep (leave the stack up), --wait-others-s S
# (how long to wait for other projects' containers to end before starting anyway, default
# 900).
# Environment: RN_COMPOSE (compose command), RN_EXTRA_CA_CERTS (PEM text for the build),
# RN_FAULT_PORT (18480), RN_BENCH_BUILD (where sse_load is built, /tmp/rn-bench-build).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

clients=2000 pause_s=10 cut_s=30 peer_cut_s=10 keep=0 rev="" wait_others_s=900 single=0
ops="rolling kill scale generator gen-kill gen-stop peer-cut gen-return buscut netcut"
while [ $# -gt 0 ]; do
  case $1 in
    --quick) clients=300; pause_s=5 ;;
    --clients) clients=$2; shift ;;
    --pause-s) pause_s=$2; shift ;;
    --cut-s) cut_s=$2; shift ;;
    --peer-cut-s) peer_cut_s=$2; shift ;;
    --single) single=1 ;;
    --ops) ops=$2; shift ;;
    --rev) rev=$2; shift ;;
    --keep) keep=1 ;;
    --wait-others-s) wait_others_s=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "fault.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for v in "$clients" "$pause_s" "$cut_s" "$peer_cut_s" "$wait_others_s"; do
  [[ $v =~ ^[0-9]+$ ]] || { echo "fault.sh: $v is not a number" >&2; exit 2; }
done
for op in $ops; do
  [[ " rolling kill scale generator gen-kill gen-stop peer-cut gen-return buscut netcut " == *" $op "* ]] ||
    { echo "fault.sh: unknown operation $op" >&2; exit 2; }
  [[ $single = 0 || $op != gen-* && $op != peer-cut ]] ||
    { echo "fault.sh: $op needs the generator pair (not --single)" >&2; exit 2; }
done

project=rnfault
port=${RN_FAULT_PORT:-18480}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
results=$root/bench/results/fault-$stamp
mkdir -p "$results"
export PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
t0=$(date +%s)
log() { printf '[%5ds] %s\n' "$(( $(date +%s) - t0 ))" "$*" | tee -a "$results/ops.log" >&2; }

# --- Docker, compose and the base image, as tests/docker/test_compose.py makes sure of them --
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get -o DPkg::Lock::Timeout=300 install -y \
    --no-install-recommends "${need[@]}" >/dev/null ||
  { timeout 600 apt-get -o DPkg::Lock::Timeout=300 update >/dev/null &&
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get -o DPkg::Lock::Timeout=300 install -y \
      --no-install-recommends "${need[@]}" >/dev/null; }
fi
docker=/usr/bin/docker; [ -x $docker ] || docker=$(command -v docker)
if ! timeout 60 $docker info >/dev/null 2>&1; then
  log "starting dockerd (log: /tmp/rn-dockerd.log)"
  setsid dockerd >>/tmp/rn-dockerd.log 2>&1 </dev/null &
  for _ in $(seq 90); do timeout 30 $docker info >/dev/null 2>&1 && break; sleep 1; done
  timeout 30 $docker info >/dev/null 2>&1 || { log "dockerd does not answer"; exit 1; }
fi
if ! $docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
  log "debian:bookworm-slim missing: building it with debootstrap"
  timeout 1200 bash tests/docker/make-base-image.sh debian:bookworm-slim >&2
fi
if [ -n "${RN_COMPOSE:-}" ]; then read -r -a compose_cmd <<<"$RN_COMPOSE"
elif command -v docker-compose >/dev/null; then compose_cmd=(docker-compose)
else compose_cmd=("$docker" compose); fi

# --- the load client, built in a tree of its own ------------------------------------------
build=${RN_BENCH_BUILD:-/tmp/rn-bench-build}
log "building sse_load in $build"
cmake -S "$root" -B "$build" -DRN_BUILD_WEB=OFF >"$results/build.log" 2>&1 &&
  timeout 600 cmake --build "$build" -j2 --target sse_load >>"$results/build.log" 2>&1 ||
  { tail -20 "$results/build.log" >&2; exit 1; }
load_bin=$build/bin/sse_load

# --- the sources the images are built from ------------------------------------------------
src=$root
work=$(mktemp -d /tmp/rn-fault.XXXXXX)
if [ -n "$rev" ]; then
  git -C "$root" archive "$rev" | tar -x -C "$work"
  src=$work
  log "images from git revision $rev ($(git -C "$root" rev-parse --short "$rev"))"
fi
compose_files=(-f "$src/deploy/compose/compose.yaml")
[ $single = 0 ] || compose_files+=(-f "$src/deploy/compose/compose.single.yaml")

# The stack's settings are ours: none of the caller's RN_* variables but the CA.
for v in $(compgen -e | grep '^RN_' | grep -v '^RN_EXTRA_CA_CERTS$' || true); do unset "$v"; done
if [ -z "${RN_EXTRA_CA_CERTS:-}" ] && compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  RN_EXTRA_CA_CERTS=$(cat /usr/local/share/ca-certificates/*.crt)
fi
export RN_EXTRA_CA_CERTS=${RN_EXTRA_CA_CERTS:-}
export RN_TAG=rnfault RN_HTTP_ADDR=127.0.0.1 RN_HTTP_PORT=$port
# Every client comes from one address here (the host, through Docker's port mapping), so the
# balancer's per-source limits, sized for browsers, must not apply: they would refuse
# clients and muddle the numbers.
export RN_LB_SOURCE_CONNS=1000000 RN_LB_SOURCE_CONN_RATE=1000000 RN_LB_SOURCE_STREAMS=1000000 \
  RN_LB_SOURCE_REQ_RATE=1000000
export COMPOSE_DOCKER_CLI_BUILD=0 DOCKER_BUILDKIT=0
compose() { timeout "${CT:-300}" "${compose_cmd[@]}" "${compose_files[@]}" -p "$project" "$@"; }

load_pid="" sampler_pid=""
stop_sampler() {
  [ -z "$sampler_pid" ] || { kill "$sampler_pid" 2>/dev/null || true; wait "$sampler_pid" 2>/dev/null || true; }
  sampler_pid=""
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_sampler
  if [ -n "$load_pid" ] && kill -0 "$load_pid" 2>/dev/null; then
    kill "$load_pid" 2>/dev/null || true
    wait "$load_pid" 2>/dev/null || true
  fi
  if [ $keep = 1 ]; then
    log "--keep: leaving project $project up"
  else
    log "tearing down project $project"
    CT=300 compose down -v --remove-orphans -t 5 >>"$results/compose.log" 2>&1 || true
    local ids
    ids=$($docker ps -aq --filter "label=com.docker.compose.project=$project" 2>/dev/null || true)
    [ -z "$ids" ] || timeout 120 $docker rm -f $ids >/dev/null 2>&1 || true
    ids=$($docker network ls -q --filter "label=com.docker.compose.project=$project" 2>/dev/null || true)
    [ -z "$ids" ] || timeout 60 $docker network rm $ids >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- wait for other projects' containers (another docker test may be running) ---------------
others() {
  $docker ps --format '{{.Names}} {{.Label "com.docker.compose.project"}}' |
    awk -v p="$project" '$2 != p' || true
}
deadline=$(( $(date +%s) + wait_others_s ))
while [ -n "$(others)" ] && [ "$(date +%s)" -lt "$deadline" ]; do
  log "waiting for other containers to end: $(others | tr '\n' ' ')"
  sleep 15
done
[ -z "$(others)" ] || log "starting beside other containers (never touching them): $(others | tr '\n' ' ')"

# --- the stack ------------------------------------------------------------------------------
# A stack of ours left behind by an earlier run (killed before its trap ran).
CT=300 compose down -v --remove-orphans -t 5 >>"$results/compose.log" 2>&1 || true
generators=(generator generator-backup)
[ $single = 0 ] || generators=(generator)
log "building the images (tag rnfault) and starting ${generators[*]} + 3 gateways + lb on 127.0.0.1:$port"
CT=2400 compose build >>"$results/compose.log" 2>&1 ||
  { tail -30 "$results/compose.log" >&2; log "image build failed (try --rev HEAD)"; exit 1; }
CT=300 compose up -d --scale gateway=3 "${generators[@]}" gateway lb >>"$results/compose.log" 2>&1 ||
  { tail -30 "$results/compose.log" >&2; exit 1; }

containers() { # SERVICE -> names, sorted
  $docker ps --filter "label=com.docker.compose.project=$project" \
    --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | sort
}
ip_of() {
  $docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$1" | awk '{print $1}'
}
lb=$(containers lb)
# The gateway IPs HAProxy has UP with a passed /readyz check, from its stats (read inside the
# lb container: the stats page listens on its loopback only).
lb_up() {
  timeout 10 $docker exec "$lb" rn-healthcheck get 8404 '/stats;csv' 2>/dev/null | awk -F, '
    NR == 1 { for (i = 1; i <= NF; i++) { h = $i; sub(/^# /, "", h); col[h] = i }; next }
    $1 == "gateways" && $2 != "BACKEND" && $2 != "FRONTEND" && $col["status"] == "UP" &&
      $col["check_status"] == "L7OK" { split($col["addr"], a, ":"); print a[1] }' | sort
}
# wait_lb N [TIMEOUT]: the balancer has exactly the N running gateways UP.
wait_lb() {
  local n=$1 limit=$(( $(date +%s) + ${2:-90} )) want up
  while [ "$(date +%s)" -lt "$limit" ]; do
    want=$(for c in $(containers gateway); do ip_of "$c"; done | sort)
    up=$(lb_up)
    if [ "$(echo "$want" | grep -c .)" = "$n" ] && [ "$want" = "$up" ]; then return 0; fi
    sleep 0.5
  done
  log "WARNING: the balancer did not show $n gateways UP in time (up: $(echo $up))"
  return 1
}
# streams_on GATEWAY [UNANSWERED]: its rn_gateway_sse_clients (from /metrics on its container
# IP), or UNANSWERED (default 0) when its /metrics does not answer.
streams_on() {
  { curl -fsS --max-time 3 "http://$(ip_of "$1"):8080/metrics" 2>/dev/null || true; } |
    awk -v none="${2-0}" '$1 == "rn_gateway_sse_clients" { print $2; found = 1 }
      END { if (!found) print none }'
}
# busiest: the gateway holding the most streams (the target of the one-gateway faults).
busiest() {
  local c n best="" most=-1
  for c in $(containers gateway); do
    n=$(streams_on "$c")
    if [ "$n" -gt "$most" ]; then best=$c; most=$n; fi
  done
  echo "$best"
}
# The gateways' view of the generators, a line per --connect source: "SERVICE STATE ACTIVE"
# (state 0 active, 1 starting, 2 passive, 3 not heard; active 1 for the source relayed
# from), from the first gateway whose /metrics answers. A source's host is its service.
generator_view() {
  local c out
  for c in $(containers gateway); do
    out=$({ curl -fsS --max-time 3 "http://$(ip_of "$c"):8080/metrics" 2>/dev/null || true; } | awk '
      /^rn_gateway_generator_(state|active)\{/ {
        name = $1; sub(/\{.*/, "", name)
        host = $1; sub(/.*source="[a-z]+:\/\//, "", host); sub(/[:"].*/, "", host)
        v[host, name] = $2; hosts[host] = 1
      }
      END { for (h in hosts) print h, v[h, "rn_gateway_generator_state"], v[h, "rn_gateway_generator_active"] }' | sort)
    if [ -n "$out" ]; then echo "$out"; return 0; fi
  done
}
active_generator() { generator_view | awk '$2 == 0 && $3 == 1 { print $1; exit }'; }
passive_generator() { generator_view | awk '$2 == 2 { print $1; exit }'; }
# A generator service whose container is not running (left down by gen-kill or gen-stop).
down_generator() {
  local g
  for g in "${generators[@]}"; do
    [ -n "$(containers "$g")" ] || { echo "$g"; return 0; }
  done
}
container_of() { # SERVICE -> its container, running or not
  $docker ps -a --filter "label=com.docker.compose.project=$project" \
    --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | head -n 1
}
# wait_pair [TIMEOUT]: the gateways see one member active and the other passive.
wait_pair() {
  local limit=$(( $(date +%s) + ${1:-90} )) view=""
  while [ "$(date +%s)" -lt "$limit" ]; do
    view=$(generator_view)
    if [ "$(awk '$2 == 0 && $3 == 1' <<<"$view" | grep -c .)" = 1 ] &&
       [ "$(awk '$2 == 2' <<<"$view" | grep -c .)" = 1 ]; then return 0; fi
    sleep 0.5
  done
  log "WARNING: no active and passive generator in time (gateways see: $(echo $view))"
  return 1
}
# wait_active_not SERVICE [TIMEOUT]: another member is active; prints the seconds it took.
wait_active_not() {
  local s; s=$(date +%s.%N)
  local limit=$(( $(date +%s) + ${2:-60} )) a
  while [ "$(date +%s)" -lt "$limit" ]; do
    a=$(active_generator)
    if [ -n "$a" ] && [ "$a" != "$1" ]; then
      echo "$a after $(awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
      return 0
    fi
    sleep 0.2
  done
  echo "none after ${2:-60} s"
  return 1
}
# Takeovers so far: the generators' `takeover` log lines (a process's heartbeat counts its
# own and starts at 0 again when it restarts; the logs keep them all).
takeovers_total() {
  local g c n=0
  for g in "${generators[@]}"; do
    c=$(container_of "$g")
    [ -z "$c" ] || n=$(( n + $($docker logs "$c" 2>&1 | grep -c 'msg="takeover"' || true) ))
  done
  echo "$n"
}
hit() { echo "$marks,$1" >>"$results/hit.csv"; } # streams the current operation hit directly
# The streams on each running gateway, once a second, for the timeline's picture; empty
# when its /metrics does not answer (cut off or restarting), which is not the same as 0.
sample_gateways() {
  echo "wall,gateway,streams"
  while :; do
    local w c; w=$(date +%s.%N)
    for c in $(containers gateway); do echo "$w,$c,$(streams_on "$c" "")"; done
    sleep 1
  done
}
wait_lb 3 180 || { CT=120 compose logs --no-color --tail 40 >&2 || true; exit 1; }
log "3 gateways UP in the balancer"
if [ $single = 0 ]; then
  wait_pair 90 || { CT=120 compose logs --no-color --tail 40 "${generators[@]}" >&2 || true; exit 1; }
  log "generators: $(generator_view | tr '\n' ';') (service state active)"
fi

# --- the load -------------------------------------------------------------------------------
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
timeline=$results/timeline.jsonl
"$load_bin" --reconnect --host 127.0.0.1 --port "$port" --clients "$clients" --ramp-per-s 500 \
  --duration-s 3600 --report-every-s 1 --json >"$timeline" 2>"$results/sse_load.err" &
load_pid=$!
sample_gateways >"$results/gateways.csv" 2>/dev/null &
sampler_pid=$!
last_tick() { grep '^{"t"' "$timeline" | grep '}$' | tail -n 1; }
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
# settle [TIMEOUT]: every client streaming again, none waiting to reconnect.
settle() {
  local limit=$(( $(date +%s) + ${1:-90} )) tick
  while [ "$(date +%s)" -lt "$limit" ]; do
    kill -0 "$load_pid" 2>/dev/null || { log "sse_load ended early"; cat "$results/sse_load.err" >&2; exit 1; }
    tick=$(last_tick)
    if [ "$(field connected_now <<<"$tick")" = "$clients" ] && [ "$(field waiting <<<"$tick")" = 0 ]; then
      return 0
    fi
    sleep 1
  done
  log "WARNING: not settled in time: $(field connected_now <<<"$tick") of $clients streaming"
  return 1
}
settle $(( clients / 500 + 60 )) || true
log "$clients clients streaming through the balancer"
sleep "$pause_s"

marks=0
mark() { # OP: the timeline's next segment belongs to OP
  marks=$((marks + 1))
  kill -USR1 "$load_pid"
  echo "$marks,$1,$(date +%s.%N)" >>"$results/marks.csv"
  echo "$marks,$(takeovers_total)" >>"$results/takeovers.csv"
  sleep 1.1 # the mark is written from sse_load's loop, and before the operation starts
}
echo "mark,operation,wall" >"$results/marks.csv"
echo "mark,streams" >"$results/hit.csv"
echo "mark,takeovers" >"$results/takeovers.csv"

op_rolling() {
  local total=0 c
  for c in $(containers gateway); do
    local s n; s=$(date +%s); n=$(streams_on "$c"); total=$((total + n))
    timeout 60 $docker restart -t 15 "$c" >/dev/null || log "WARNING: docker restart $c failed"
    wait_lb 3 90 || true
    log "  $c ($n streams) restarted and UP again in $(( $(date +%s) - s )) s"
  done
  hit "$total"
}
op_kill() {
  local c n; c=$(busiest); n=$(streams_on "$c"); hit "$n"
  log "  docker kill $c ($n streams)"
  timeout 30 $docker kill "$c" >/dev/null || log "WARNING: docker kill $c failed"
  sleep 2
  [ "$($docker inspect -f '{{.State.Running}}' "$c")" = true ] ||
    timeout 60 $docker start "$c" >/dev/null || log "WARNING: docker start $c failed"
  wait_lb 3 90 || true
}
op_scale() {
  CT=300 compose up -d --scale gateway=5 --no-recreate gateway >>"$results/compose.log" 2>&1 ||
    log "WARNING: scale to 5 failed"
  wait_lb 5 90 || true
  log "  5 gateways UP; back to 3"
  sleep "$pause_s"
  local n=0 c
  for c in $($docker ps --filter "label=com.docker.compose.project=$project" \
      --filter "label=com.docker.compose.service=gateway" \
      --format '{{.Label "com.docker.compose.container-number"}} {{.Names}}' |
      sort -n | tail -n 2 | awk '{print $2}'); do
    n=$((n + $(streams_on "$c")))
  done
  hit "$n"
  log "  the 2 gateways scaled away hold $n streams"
  CT=300 compose up -d --scale gateway=3 --no-recreate gateway >>"$results/compose.log" 2>&1 ||
    log "WARNING: scale to 3 failed"
  wait_lb 3 90 || true
}
op_generator() {
  hit "$clients"
  if [ $single = 1 ]; then
    timeout 60 $docker restart -t 5 "$(containers generator)" >/dev/null ||
      log "WARNING: generator restart failed"
    wait_lb 3 90 || true
    return 0
  fi
  local a; a=$(active_generator)
  log "  docker restart of the active generator, $a"
  timeout 60 $docker restart -t 5 "$(container_of "$a")" >/dev/null ||
    log "WARNING: docker restart $a failed"
  wait_pair 90 || true
  log "  generators: $(generator_view | tr '\n' ';')"
}
# gen_down kill|stop: the active generator killed or stopped, left down.
gen_down() {
  local a c; a=$(active_generator); c=$(container_of "$a"); hit "$clients"
  [ -n "$a" ] || { log "WARNING: no active generator seen by the gateways"; return 0; }
  log "  docker $1 $c (the active)"
  if [ "$1" = kill ]; then
    timeout 30 $docker kill "$c" >/dev/null || log "WARNING: docker kill $c failed"
  else
    timeout 30 $docker stop -t 5 "$c" >/dev/null || log "WARNING: docker stop $c failed"
  fi
  log "  active: $(wait_active_not "$a" 60)"
  sleep 2
  [ "$($docker inspect -f '{{.State.Running}}' "$c")" = false ] ||
    log "  (Docker started $c again by its restart policy)"
}
op_gen_kill() { gen_down kill; }
op_gen_stop() { gen_down stop; }
op_gen_return() {
  local g c; g=$(down_generator); c=$(container_of "$g"); hit "$clients"
  [ -n "$g" ] || { log "WARNING: no generator is down"; return 0; }
  log "  docker start $c"
  timeout 60 $docker start "$c" >/dev/null || log "WARNING: docker start $c failed"
  wait_pair 90 || true
  log "  generators: $(generator_view | tr '\n' ';')"
}
# cut_network NET CONTAINER SECONDS WHAT [DURING] -- CONTAINER off network NET for SECONDS
# (DURING, a command, runs just before it is connected again), then back with its aliases.
cut_network() {
  local net=$1 c=$2 seconds=$3 what=$4 during=${5:-} aliases a args=()
  aliases=$($docker inspect -f "{{range (index .NetworkSettings.Networks \"$net\").Aliases}}{{.}} {{end}}" "$c")
  for a in $aliases; do args+=(--alias "$a"); done
  timeout 30 $docker network disconnect "$net" "$c" ||
    { log "WARNING: network disconnect failed"; return 0; }
  log "  $what for $seconds s"
  sleep "$seconds"
  [ -z "$during" ] || $during
  timeout 30 $docker network connect "${args[@]}" "$net" "$c" ||
    log "WARNING: network connect $c failed"
}
log_generators_during_cut() { log "  generators during the cut: $(generator_view | tr '\n' ';')"; }
op_peer_cut() {
  local p c net; p=$(passive_generator); c=$(container_of "$p"); hit "$clients"
  [ -n "$p" ] || { log "WARNING: no passive generator seen by the gateways"; return 0; }
  net=$($docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' "$c" |
        tr ' ' '\n' | grep '_peer$' || true)
  [ -n "$net" ] || { log "WARNING: $c is on no peer network"; return 0; }
  cut_network "$net" "$c" "$peer_cut_s" "$c (the passive) disconnected from $net (the peer link only)" \
    log_generators_during_cut
  wait_pair 90 || true
}
op_buscut() {
  local c pid n; c=$(busiest); n=$(streams_on "$c"); hit "$n"; pid=$($docker inspect -f '{{.State.Pid}}' "$c")
  local rules=("OUTPUT -p tcp --dport 5556 -j DROP" "INPUT -p tcp --sport 5556 -j DROP")
  local r
  for r in "${rules[@]}"; do
    # shellcheck disable=SC2086
    timeout 10 nsenter -t "$pid" -n iptables -I $r ||
      { log "WARNING: iptables in $c's network namespace failed: no bus cut"; return 0; }
  done
  log "  $c ($n streams): tcp/5556 dropped in its network namespace (bus only) for $cut_s s"
  sleep "$cut_s"
  for r in "${rules[@]}"; do
    # shellcheck disable=SC2086
    timeout 10 nsenter -t "$pid" -n iptables -D $r || log "WARNING: cannot remove rule $r"
  done
  wait_lb 3 90 || true
}
op_netcut() {
  local c net n; c=$(busiest); n=$(streams_on "$c"); hit "$n"
  net=$($docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' "$c" | awk '{print $1}')
  cut_network "$net" "$c" "$cut_s" "$c ($n streams) disconnected from $net (bus and HTTP)"
  wait_lb 3 90 || true
}

run_op() {
  log "== $1"
  mark "$1"
  local s; s=$(date +%s)
  "op_${1//-/_}"
  log "   $1 done in $(( $(date +%s) - s )) s; settling"
  settle 120 || true
  sleep "$pause_s"
}
for op in $ops; do
  if [ $single = 0 ]; then
    case $op in
      # These need both members: bring back the one an earlier operation left down.
      gen-kill|gen-stop|peer-cut|generator) [ -z "$(down_generator)" ] || run_op gen-return ;;
      # Nothing to bring back: the passive is stopped first, outside the measured interval.
      gen-return)
        if [ -z "$(down_generator)" ]; then
          p=$(passive_generator)
          if [ -z "$p" ]; then
            log "WARNING: no passive generator to stop before gen-return"
          else
            log "   stopping $p (the passive) before gen-return"
            timeout 30 $docker stop -t 5 "$(container_of "$p")" >/dev/null || true
          fi
          settle 60 || true
          sleep "$pause_s"
        fi ;;
    esac
  fi
  run_op "$op"
done
mark end
stop_sampler
kill -TERM "$load_pid"
wait "$load_pid" || true
load_pid=""
log "sse_load ended; writing $results"

python3 - "$results" "$clients" "$ops" <<'PY'
import csv, json, sys
results, clients, ops = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
ticks, marks, summary = [], {}, None
for line in open(f"{results}/timeline.jsonl"):
    line = line.strip()
    if not line.endswith("}"):
        continue
    r = json.loads(line)
    if "clients" in r:
        summary = r
    elif "mark" in r:
        marks[r["mark"]] = r
    else:
        ticks.append(r)
if ticks:
    with open(f"{results}/timeline.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(ticks[0]))
        w.writeheader()
        w.writerows(ticks)
if summary:
    json.dump(summary, open(f"{results}/summary.json", "w"), indent=1)
names = {int(r["mark"]): r["operation"] for r in csv.DictReader(open(f"{results}/marks.csv"))}
hits = {int(r["mark"]): r["streams"] for r in csv.DictReader(open(f"{results}/hit.csv"))}
takeovers = {int(r["mark"]): int(r["takeovers"])
             for r in csv.DictReader(open(f"{results}/takeovers.csv"))}

def peak_rate(t0, t1):
    seg = [x for x in ticks if t0 <= x["t"] <= t1]
    best = 0.0
    for a, b in zip(seg, seg[1:]):
        if b["t"] > a["t"]:
            best = max(best, (b["reconnects"] - a["reconnects"]) / (b["t"] - a["t"]))
    return best

reasons = ["too_old", "epoch", "gap", "invalid_id", "other"]

def refusals(d):
    """The non-200 answers, and who gave them: '503 gw' a gateway behind the balancer,
    '503 lb' the balancer itself (no X-RN-Server on the answer)."""
    parts = [f"{d(f'refused_{k}xx_{who}')} {k}xx {tag}" for k in range(1, 6)
             for who, tag in (("gateway", "gw"), ("other", "lb"))
             if d(f"refused_{k}xx_{who}")]
    return str(d("refused")) + (f" ({', '.join(parts)})" if parts else "")
out = ["| operation | streams hit | lost | dup | conflicts | resets too-old / epoch / gap / invalid-id | reconnects "
       "| refused (non-200: by a gateway, gw, or the balancer, lb) | reconnect p50 / p99 ms | peak reconnects/s "
       "| longest gap ms | takeovers | stalled max |",
       "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
for k in sorted(marks):
    if k + 1 not in marks:
        break
    a, b = marks[k], marks[k + 1]
    d = lambda key: b[key] - a[key]
    stalled = max([x["stalled"] for x in ticks if a["t"] <= x["t"] <= b["t"]] + [0])
    resets = " / ".join(str(d("reset_" + r)) for r in reasons[:4])
    if d("reset_other"):
        resets += f" (+{d('reset_other')} other)"
    took = (takeovers[k + 1] - takeovers[k]) if k in takeovers and k + 1 in takeovers else "?"
    out.append(f"| {names.get(k, k)} | {hits.get(k, '?')} | {d('lost')} | {d('dup')} | {d('conflicts')} "
               f"| {resets} | {d('reconnects')} "
               f"| {refusals(d)} | {b['mark_reconnect_p50_ms']:.0f} / {b['mark_reconnect_p99_ms']:.0f} "
               f"| {peak_rate(a['t'], b['t']):.0f} | {b['mark_gap_max_ms']:.0f} | {took} | {stalled} |")
table = "\n".join(out)
if summary:
    table += (f"\n\nWhole run: {clients} clients, {summary['events']} events received, "
              f"{summary['lost']} lost on {summary['conns_with_loss']} connections, "
              f"{summary['dup']} duplicated, {summary['reconnects']} reconnects "
              f"(p50 {summary['reconnect_p50_ms']:.0f} ms, p99 {summary['reconnect_p99_ms']:.0f} ms, "
              f"max {summary['reconnect_max_ms']:.0f} ms), {summary['refused']} non-200 answers, "
              f"{summary['failed']} failed connects, {summary['epoch_changes']} epoch changes, "
              f"{summary['conflicts']} conflicting ids, longest gap between events "
              f"{summary['gap_max_ms']:.0f} ms.")
open(f"{results}/table.md", "w").write(table + "\n")
print(table)
PY
bash "$root/bench/plot.sh" "$results" || log "WARNING: no plot"
log "results in $results"
