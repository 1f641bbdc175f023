#!/usr/bin/env bash
# run.sh BIN_DIR SECONDS [TARGET...] -- runs each libFuzzer target for a bounded time from a
# copy of its committed seed corpus (new inputs never land in the repo). Exits non-zero on
# the first crash, printing the crashing input in hex.
set -euo pipefail
bin=$1 seconds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_wire_decode fuzz_event_id fuzz_sse_frame fuzz_interest)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in "${targets[@]}"; do
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  cp -r "$here/corpus/$t/." "$work/$t/corpus/"
  if ! "$bin/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$work/$t/artifacts/" "$work/$t/corpus" >"$work/$t/log" 2>&1; then
    tail -40 "$work/$t/log"
    for crash in "$work/$t/artifacts"/*; do
      [ -f "$crash" ] && { echo "crashing input ($t, $(basename "$crash")):"; od -An -tx1 -v "$crash"; }
    done
    exit 1
  fi
  echo "$t: $(grep -E 'stat::number_of_executed_units' "$work/$t/log" | awk '{print $2}') runs in ${seconds}s, no crash"
done
