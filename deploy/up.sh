#!/usr/bin/env bash
# Start the cluster from nothing: image, homes and genesis (cocorico
# testnet), a demo voter roll, then 4 validators, 2 volunteers and a
# registrar under docker compose; wait until every node is healthy.
#   deploy/up.sh           # APIs on 127.0.0.1:18080-18085, registrar on 127.0.0.1:18090
set -euo pipefail
cd "$(dirname "$0")"
./build.sh
if [ ! -f net/genesis.json ]; then
  bin/cocorico testnet --validators 4 --volunteers 2 --out net --chain-id compose --compose >/dev/null
  {
    echo "voter_id,code"
    for i in $(seq -w 1 5000); do echo "voter-$i,code-$i"; done
  } > net/roll.csv
  mkdir -p net/registrar
fi
# The registrar's admin token (POST /v1/keys is off without one): a file
# only the owner reads, never a command-line argument.
[ -s net/registrar-admin.token ] || (umask 077; od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > net/registrar-admin.token)
compose() { docker compose -f compose.yaml -p cocorico "$@" 2>/dev/null || docker-compose -f compose.yaml -p cocorico "$@"; }
compose up -d
for i in $(seq 1 120); do
  unhealthy=$(docker ps --filter "label=com.docker.compose.project=cocorico" --format '{{.Names}} {{.Status}}' | grep -vc "(healthy)" || true)
  [ "$unhealthy" = "0" ] && { echo "cluster healthy"; exit 0; }
  sleep 1
done
echo "cluster not healthy after 120 s" >&2
docker ps --filter "label=com.docker.compose.project=cocorico" >&2
exit 1
