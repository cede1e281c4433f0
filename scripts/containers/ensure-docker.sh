#!/usr/bin/env bash
# Makes a Docker engine available for the container suite, or says why not.
#
#   bash scripts/containers/ensure-docker.sh start   # idempotent; exit 0 once `docker info` works
#   bash scripts/containers/ensure-docker.sh stop    # stops the dockerd that `start` started, nothing else
#
# start: installs Debian's docker.io when dockerd is missing (apt-get; needs
# root), and starts dockerd in the background when no engine answers. It tries
# the default setup (overlay2, iptables) first, then vfs storage and
# --iptables=false (user-defined bridge networks and published ports still work
# through docker-proxy; the suite needs no outbound NAT). Every wait is bounded.
# The PID of a dockerd started here goes to $DYNAKV_DOCKERD_PIDFILE (default
# /tmp/dynakv-dockerd.pid); `stop` signals only that PID, and only if it is
# still a dockerd. On failure the last line on stderr says why, and exit is 1.
set -uo pipefail
PIDFILE="${DYNAKV_DOCKERD_PIDFILE:-/tmp/dynakv-dockerd.pid}"
LOG="${DYNAKV_DOCKERD_LOG:-/tmp/dynakv-dockerd.log}"
SOCK=/var/run/docker.sock
export PATH="$PATH:/usr/sbin:/sbin"

say() { echo "ensure-docker: $*" >&2; }
engine_up() { timeout 10 docker info >/dev/null 2>&1; }
is_our_dockerd() {
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null)" || return 1
  [[ -n "$pid" && "$(cat "/proc/$pid/comm" 2>/dev/null)" == dockerd ]]
}

stop() {
  if ! is_our_dockerd; then
    rm -f "$PIDFILE"
    return 0
  fi
  local pid; pid="$(cat "$PIDFILE")"
  say "stopping dockerd $pid (started by this script)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do
    [[ -d "/proc/$pid" ]] || break
    sleep 0.5
  done
  [[ -d "/proc/$pid" ]] && kill -KILL "$pid" 2>/dev/null
  rm -f "$PIDFILE"
}

try_dockerd() { # args: extra dockerd flags
  say "starting dockerd $* (log $LOG)"
  # setsid: its own session, so a CI runner's process-group signals reach it only through `stop`.
  setsid dockerd --host="unix://$SOCK" "$@" >>"$LOG" 2>&1 < /dev/null &
  local pid=$!
  echo "$pid" > "$PIDFILE"
  for _ in $(seq 1 60); do
    if engine_up; then say "dockerd $pid is up"; return 0; fi
    [[ -d "/proc/$pid" ]] || break
    sleep 1
  done
  say "dockerd $* did not come up; last log lines:"
  tail -n 5 "$LOG" >&2
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 20); do [[ -d "/proc/$pid" ]] || break; sleep 0.5; done
  kill -KILL "$pid" 2>/dev/null
  rm -f "$PIDFILE"
  return 1
}

start() {
  if engine_up; then say "a Docker engine is already running"; return 0; fi
  if ! command -v dockerd >/dev/null 2>&1; then
    if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
      say "no dockerd and cannot install docker.io (needs root and apt-get)"; return 1
    fi
    say "installing docker.io (Debian)"
    export DEBIAN_FRONTEND=noninteractive
    if ! { timeout 300 apt-get update -qq && timeout 600 apt-get install -y -qq --no-install-recommends docker.io >/dev/null; } >&2; then
      say "apt-get install docker.io failed"; return 1
    fi
  fi
  if [[ "$(id -u)" != 0 ]]; then say "dockerd is installed but not running, and starting it needs root"; return 1; fi
  if is_our_dockerd; then # ours, but not answering: replace it
    stop
  fi
  # A stale socket from a dead daemon makes dockerd refuse to start.
  if [[ -S "$SOCK" ]] && ! pgrep -x dockerd >/dev/null; then rm -f "$SOCK"; fi
  try_dockerd && return 0
  try_dockerd --storage-driver=vfs && return 0
  try_dockerd --storage-driver=vfs --iptables=false --ip-masq=false && return 0
  say "could not start dockerd (see $LOG)"
  return 1
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
