#!/usr/bin/env bash
# run.sh -- builds the project and runs one generator and one gateway until Ctrl-C.
# RN_HTTP (default 127.0.0.1:8080) and RN_BUS (default tcp://127.0.0.1:5556) move them.
# Building may need root (it installs what is missing), running never does: as root, the
# programs are installed into a temporary prefix and run as RN_USER (default: the user
# who ran sudo, else the system user `rn`, made if missing), with no privileges to regain.
set -euo pipefail
cd "$(dirname "$0")/.."

http=${RN_HTTP:-127.0.0.1:8080}
bus=${RN_BUS:-tcp://127.0.0.1:5556}
build=${RN_BUILD_DIR:-build}

bash tools/install-deps.sh
cmake -B "$build" -S . -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

bin=$build/bin
as_user=()
if [ "$(id -u)" -eq 0 ]; then
  user=${RN_USER:-${SUDO_USER:-rn}}
  [ "$user" = root ] && user=rn
  if ! id -u "$user" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
  fi
  # The checkout may sit where that user cannot read (/root): run from a copy it can.
  stage=$(mktemp -d /tmp/rn-run.XXXXXX)
  chmod 755 "$stage"
  cmake --install "$build" --prefix "$stage" >/dev/null
  bin=$stage/bin
  as_user=(setpriv --reuid="$user" --regid="$user" --init-groups --no-new-privs
           --inh-caps=-all --bounding-set=-all --)
fi

"${as_user[@]}" "$bin/generator" --bind "$bus" &
generator=$!
"${as_user[@]}" "$bin/gateway" --listen "$http" --connect "$bus" &
gateway=$!
cleanup() {
  kill -TERM $gateway $generator 2>/dev/null || true
  wait || true
  [ -z "${stage:-}" ] || rm -rf "$stage"
}
trap cleanup INT TERM EXIT

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
