#!/usr/bin/env bash
# make-secrets.sh [IMAGE] -- the bus's CURVE keys as Docker secrets for stack.yaml, made
# with the generator image's keygen (default image rn-generator:${RN_TAG:-latest}) on a
# swarm manager: rn_generator_key, rn_generator_pub, rn_subscriber_key (shared by the
# gateways and the monitor) and rn_clients (the subscriber public keys the generator
# admits). When all four exist they are kept. The key files never touch the disk
# outside a temporary directory, removed at exit.
set -euo pipefail
image=${1:-rn-generator:${RN_TAG:-latest}}
names=(rn_generator_key rn_generator_pub rn_subscriber_key rn_clients)
have() { docker secret inspect "$1" >/dev/null 2>&1; }
count=0; for n in "${names[@]}"; do have "$n" && count=$((count + 1)); done
[ "$count" = 4 ] && { echo "secrets exist already"; exit 0; }
# Keys that do not belong together would lock every subscriber out.
[ "$count" = 0 ] || { echo "only some of ${names[*]} exist: remove them first" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
chmod 777 "$dir" # the image's user writes there
docker run --rm -v "$dir:/keys" --entrypoint sh "$image" -c \
  'keygen /keys/generator >/dev/null && keygen /keys/subscriber >/dev/null'
cp "$dir/subscriber.pub" "$dir/clients"
for pair in rn_generator_key:generator.key rn_generator_pub:generator.pub \
            rn_subscriber_key:subscriber.key rn_clients:clients; do
  name=${pair%%:*} file=${pair#*:}
  docker secret create "$name" "$dir/$file" >/dev/null
  echo "secret $name"
done
