#!/usr/bin/env bash
# make-secrets.sh [IMAGE] -- the bus's CURVE keys as Docker secrets for stack.yaml, one pair
# per role, made by the generator image's rn-keys (default image
# rn-generator:${RN_TAG:-latest}) on a swarm manager:
#
#   generator (primary)  rn_generator_key, rn_generator_clients (the public keys it admits:
#                        gateways, monitor, the backup), rn_generator_backup_pub (its peer)
#   generator-backup     rn_generator_backup_key, rn_generator_backup_clients (gateways,
#                        monitor, the primary), rn_generator_pub (its peer)
#   gateway              rn_generator_pub, rn_generator_backup_pub, rn_gateway_key
#   monitor              rn_generator_pub, rn_generator_backup_pub, rn_monitor_key
#
# When all exist they are kept. Secrets of an earlier layout (rn_clients of the one
# generator, rn_subscriber_key before it) cannot be read back to be upgraded: the script
# says so and stops; remove the stack and those secrets, then run it again. The key files
# never leave a temporary directory that only the caller can enter (0700), removed at exit;
# the keys are made as the caller's uid, in a container without a network.
set -euo pipefail
image=${1:-rn-generator:${RN_TAG:-latest}}
files=(rn_generator_key:generator/generator.key
       rn_generator_clients:generator/clients
       rn_generator_pub:generator/generator.pub
       rn_generator_backup_key:generator-backup/generator-backup.key
       rn_generator_backup_clients:generator-backup/clients
       rn_generator_backup_pub:generator-backup/generator-backup.pub
       rn_gateway_key:gateway/gateway.key
       rn_monitor_key:monitor/monitor.key)
names=("${files[@]%%:*}")
former=(rn_clients rn_subscriber_key)
have() { docker secret inspect "$1" >/dev/null 2>&1; }
old=(); for n in "${former[@]}"; do have "$n" && old+=("$n"); done
if [ ${#old[@]} -gt 0 ]; then
  echo "secrets of an earlier layout exist (${old[*]}): remove the stack and the secrets" \
       "(docker secret rm ${old[*]} ...), then run this again" >&2
  exit 1
fi
count=0; for n in "${names[@]}"; do have "$n" && count=$((count + 1)); done
[ "$count" = "${#names[@]}" ] && { echo "secrets exist already"; exit 0; }
# Keys that do not belong together would lock every subscriber out.
[ "$count" = 0 ] || { echo "only some of ${names[*]} exist: remove them first" >&2; exit 1; }
dir=$(mktemp -d) # mode 0700
trap 'rm -rf "$dir"' EXIT
docker run --rm --network none -u "$(id -u):$(id -g)" -v "$dir:/keys" \
  --entrypoint rn-keys "$image" /keys >/dev/null
for pair in "${files[@]}"; do
  name=${pair%%:*} file=${pair#*:}
  docker secret create "$name" "$dir/$file" >/dev/null
  echo "secret $name"
done
