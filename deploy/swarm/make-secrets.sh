#!/usr/bin/env bash
# make-secrets.sh [IMAGE] -- the bus's CURVE keys as Docker secrets for stack.yaml, one pair
# per role, made by the generator image's rn-keys (default image
# rn-generator:${RN_TAG:-latest}) on a swarm manager: rn_generator_key and rn_clients (the
# public keys the generator admits) for the generator, rn_generator_pub for both
# subscribers, rn_gateway_key for the gateways, rn_monitor_key for the monitor. When all
# exist they are kept. The key files never leave a temporary directory that only the
# caller can enter (0700), removed at exit; the keys are made as the caller's uid, in a
# container without a network.
set -euo pipefail
image=${1:-rn-generator:${RN_TAG:-latest}}
names=(rn_generator_key rn_generator_pub rn_gateway_key rn_monitor_key rn_clients)
have() { docker secret inspect "$1" >/dev/null 2>&1; }
count=0; for n in "${names[@]}"; do have "$n" && count=$((count + 1)); done
[ "$count" = "${#names[@]}" ] && { echo "secrets exist already"; exit 0; }
# Keys that do not belong together would lock every subscriber out.
[ "$count" = 0 ] || { echo "only some of ${names[*]} exist: remove them first" >&2; exit 1; }
dir=$(mktemp -d) # mode 0700
trap 'rm -rf "$dir"' EXIT
docker run --rm --network none -u "$(id -u):$(id -g)" -v "$dir:/keys" \
  --entrypoint rn-keys "$image" /keys >/dev/null
for pair in rn_generator_key:generator/generator.key rn_clients:generator/clients \
            rn_generator_pub:generator/generator.pub rn_gateway_key:gateway/gateway.key \
            rn_monitor_key:monitor/monitor.key; do
  name=${pair%%:*} file=${pair#*:}
  docker secret create "$name" "$dir/$file" >/dev/null
  echo "secret $name"
done
