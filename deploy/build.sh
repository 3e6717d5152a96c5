#!/usr/bin/env bash
# Build the static binary and the FROM-scratch image cocorico:local.
set -euo pipefail
cd "$(dirname "$0")"
version=$(git -C .. describe --always --dirty 2>/dev/null || echo dev)
mkdir -p bin
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" -o bin/cocorico ../cmd/cocorico
docker build -q -t cocorico:local -f Dockerfile . >/dev/null
size=$(docker image inspect cocorico:local --format '{{.Size}}')
echo "image cocorico:local ($version): $((size / 1024 / 1024)) MiB"
