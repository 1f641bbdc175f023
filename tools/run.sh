#!/usr/bin/env bash
# run.sh -- builds the project and runs one generator and one gateway until Ctrl-C.
# RN_HTTP (default 127.0.0.1:8080) and RN_BUS (default tcp://127.0.0.1:5556) move them.
set -euo pipefail
cd "$(dirname "$0")/.."

http=${RN_HTTP:-127.0.0.1:8080}
bus=${RN_BUS:-tcp://127.0.0.1:5556}

bash tools/install-deps.sh
cmake -B build -S . -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

build/bin/generator --bind "$bus" &
generator=$!
build/bin/gateway --listen "$http" --connect "$bus" &
gateway=$!
trap 'kill -TERM $gateway $generator 2>/dev/null; wait' INT TERM EXIT

for _ in $(seq 100); do
  if curl -fs "http://$http/readyz" >/dev/null 2>&1; then
    echo
    echo "    The live page: http://$http/    (Ctrl-C stops generator and gateway)"
    echo
    wait -n $gateway $generator
    exit 1
  fi
  kill -0 $gateway 2>/dev/null && kill -0 $generator 2>/dev/null || exit 1
  sleep 0.1
done
echo "run.sh: the gateway did not become ready in 10 s" >&2
exit 1
