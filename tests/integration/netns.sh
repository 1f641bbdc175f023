#!/usr/bin/env bash
# netns.sh -- runs a command inside a network namespace of its own, with loopback up and
# small TCP buffers, so a client that stops reading fills the server's socket buffer in
# moments instead of megabytes. RN_NETNS names it: a test may change the network only
# there. The namespace is removed afterwards, also on failure.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "netns.sh: skipped: a network namespace needs root" >&2
  exit 77 # ctest: skipped
fi
ns="rn-test-$$"
ip netns add "$ns"
trap 'ip netns delete "$ns" 2>/dev/null || true' EXIT
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" sysctl -q -w net.ipv4.tcp_wmem="4096 16384 65536" \
  net.ipv4.tcp_rmem="4096 16384 65536"
RN_NETNS="$ns" ip netns exec "$ns" "$@"
