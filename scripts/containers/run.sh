#!/usr/bin/env bash
# The container suite end to end (DESIGN §9 level 4), as CI runs it:
#   1. a Docker engine (scripts/containers/ensure-docker.sh; if none can be had,
#      prints "container suite skipped: <reason>" and exits 0),
#   2. the base image (node:20-bookworm-slim if present, else a local rootfs
#      with the host's node: base-image.sh) and the node image (build-image.sh),
#   3. `npm run test:containers` (its exit code is this script's),
#   4. cleanup, whatever happened: this run's containers and network (label
#      dynakv.test=<run id>), its images, its data dirs, and the dockerd step 1
#      started (only that one).
# Env: DYNAKV_FAULTS_SEED / DYNAKV_FAULTS_MS pass through to the test.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUN_ID="dynakv-ct-$$-$(date +%s)"
IMAGE="dynakv-node:${RUN_ID#dynakv-}"
export DYNAKV_DOCKERD_PIDFILE="/tmp/${RUN_ID}-dockerd.pid"
export TESTCONTAINERS_RYUK_DISABLED=true
started_at=$(date +%s)
made_base=""

cleanup() {
  local rc=$?
  set +e
  if docker info >/dev/null 2>&1; then
    for id in $(docker ps -aq --filter "label=dynakv.test=$RUN_ID"); do
      docker unpause "$id" >/dev/null 2>&1
      docker rm -f -v "$id" >/dev/null 2>&1
    done
    docker network rm "${RUN_ID}-net" >/dev/null 2>&1
    docker image rm -f "$IMAGE" >/dev/null 2>&1
    [[ -n "$made_base" ]] && docker image rm -f "$made_base" >/dev/null 2>&1
    left="$(docker ps -aq --filter "label=dynakv.test=$RUN_ID" | wc -l)"
    [[ "$left" != 0 ]] && echo "run.sh: warning: $left container(s) of $RUN_ID left" >&2
  fi
  rm -rf /tmp/"${RUN_ID}"-data-* 2>/dev/null
  bash scripts/containers/ensure-docker.sh stop
  echo "container suite: $(( $(date +%s) - started_at )) s in all (exit $rc)"
  exit $rc
}

if ! reason="$(bash scripts/containers/ensure-docker.sh start 2>&1)"; then
  echo "$reason" | tail -n 8 >&2
  echo "container suite skipped: no Docker engine could be started ($(echo "$reason" | tail -n 1 | sed 's/^ensure-docker: //'))"
  bash scripts/containers/ensure-docker.sh stop
  exit 0
fi
echo "$reason" >&2
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ -f dist/cli/main.js ]] || npm run build
base_existed=yes
docker image inspect dynakv-base:local >/dev/null 2>&1 || base_existed=""
BASE="$(bash scripts/containers/base-image.sh dynakv-base:local | tail -n 1)"
[[ "$BASE" == dynakv-base:local && -z "$base_existed" ]] && made_base="$BASE"
bash scripts/containers/build-image.sh "$IMAGE" "$BASE" 2> >(grep -v -e DEPRECATED -e 'BuildKit is currently disabled' -e 'environment-variable' >&2)
echo "container suite: image $IMAGE on base $BASE ready after $(( $(date +%s) - started_at )) s"

DYNAKV_IMAGE="$IMAGE" DYNAKV_CT_RUN_ID="$RUN_ID" timeout 900 npm run test:containers
