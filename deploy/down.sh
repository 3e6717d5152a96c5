#!/usr/bin/env bash
# Stop the cluster and remove its containers, network and node homes.
set -euo pipefail
cd "$(dirname "$0")"
docker compose -f compose.yaml -p cocorico down -v --remove-orphans 2>/dev/null || docker-compose -f compose.yaml -p cocorico down -v --remove-orphans
rm -rf net
echo "cluster removed"
