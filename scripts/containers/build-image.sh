#!/usr/bin/env bash
# Builds the dynakv node image from the current build (dist/).
#
#   bash scripts/containers/build-image.sh TAG [BASE]
#
# Stages a context with dist/, bin/, package.json and production-only
# node_modules (npm install --omit=dev, no scripts: lmdb and msgpackr load
# their prebuilt linux-x64 addons), then `docker build -f cluster/Dockerfile`.
# BASE defaults to the Dockerfile's own (node:20-bookworm-slim).
set -euo pipefail
cd "$(dirname "$0")/../.."
TAG="${1:?usage: build-image.sh TAG [BASE]}"
BASE="${2:-}"

[[ -f dist/cli/main.js || -d dist ]] || { echo "build-image: no dist/ (run npm run build)" >&2; exit 1; }
CTX="$(mktemp -d "${TMPDIR:-/tmp}/dynakv-ctx.XXXXXX")"
trap 'rm -rf "$CTX"' EXIT
cp -r dist bin package.json package-lock.json "$CTX/"
# Production deps only, from the lockfile; npm's cache makes this offline after the first run.
(cd "$CTX" && npm install --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null)
rm -f "$CTX/package-lock.json"
args=(-f cluster/Dockerfile -t "$TAG" --label "dynakv.managed=node")
[[ -n "$BASE" ]] && args+=(--build-arg "BASE=$BASE")
DOCKER_BUILDKIT=0 docker build -q "${args[@]}" "$CTX" >/dev/null
echo "build-image: built $TAG ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'))" >&2
