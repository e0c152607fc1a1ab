#!/usr/bin/env bash
# A local Redis Cluster for trying sharded pub/sub (RedisBus(..., sharded=True)) on one machine.
#
#   scripts/redis-cluster.sh start [DIR]   start SHARDS primaries (no replicas) on loopback
#   scripts/redis-cluster.sh stop  [DIR]   stop the processes this script started in DIR
#
# DIR defaults to .tipline/redis-cluster. Ports: REDIS_CLUSTER_PORT (default 7000) and the
# next SHARDS-1; each node's cluster bus listens on its port + 10000. SHARDS defaults to 3.
# Nothing is saved to disk but the cluster's own node files; stop touches only the PIDs
# written in DIR, so another Redis on the machine is never affected.
set -euo pipefail

cmd="${1:-}"
dir="${2:-.tipline/redis-cluster}"
base="${REDIS_CLUSTER_PORT:-7000}"
shards="${SHARDS:-3}"

usage() {
  echo "usage: $0 start|stop [DIR]" >&2
  exit 2
}

ports() {
  local i
  for ((i = 0; i < shards; i++)); do echo $((base + i)); done
}

is_ours() {
  # The PID in the file is alive and still a redis-server (not a recycled PID).
  local pid="$1"
  kill -0 "$pid" 2>/dev/null \
    && [[ "$(ps -o comm= -p "$pid" 2>/dev/null)" == redis-server* ]] \
    && [[ "$(ps -o stat= -p "$pid" 2>/dev/null)" != Z* ]]
}

wait_ping() {
  local port="$1" i
  for ((i = 0; i < 100; i++)); do
    if redis-cli -p "$port" ping >/dev/null 2>&1; then return 0; fi
    sleep 0.05
  done
  echo "redis-server on port $port did not start (see $dir/redis-$port.log)" >&2
  return 1
}

wait_ok() {
  local port i
  for ((i = 0; i < 200; i++)); do
    local ok=1
    for port in $(ports); do
      redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || ok=0
    done
    if ((ok)); then return 0; fi
    sleep 0.05
  done
  echo "the cluster did not reach cluster_state:ok" >&2
  return 1
}

start() {
  command -v redis-server >/dev/null || { echo "redis-server not found (apt-get install redis-server)" >&2; exit 1; }
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local port nodes=()
  for port in $(ports); do
    local pidfile="$dir/redis-$port.pid"
    if [[ -f "$pidfile" ]] && is_ours "$(cat "$pidfile")"; then
      echo "port $port: already running (pid $(cat "$pidfile"))"
    else
      redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" \
        --cluster-enabled yes --cluster-port $((port + 10000)) \
        --cluster-config-file "$dir/nodes-$port.conf" --cluster-node-timeout 5000 \
        --save "" --appendonly no \
        --daemonize yes --pidfile "$pidfile" --logfile "$dir/redis-$port.log"
    fi
    nodes+=("127.0.0.1:$port")
  done
  for port in $(ports); do wait_ping "$port"; done
  # A restarted cluster remembers its slots in its node files; only a new one is created.
  if redis-cli -p "$base" cluster info | grep -q '^cluster_slots_assigned:0'; then
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$dir/create.log"
  fi
  wait_ok
  echo "Redis Cluster up: ${nodes[*]}"
  echo "REDIS_URL=redis://127.0.0.1:$base  (sharded pub/sub)"
}

stop() {
  [[ -d "$dir" ]] || { echo "nothing to stop in $dir"; return 0; }
  local pidfile pid i
  for pidfile in "$dir"/redis-*.pid; do
    [[ -e "$pidfile" ]] || continue
    pid="$(cat "$pidfile")"
    if is_ours "$pid"; then
      kill "$pid"
      for ((i = 0; i < 100; i++)); do
        is_ours "$pid" || break
        sleep 0.05
      done
      echo "stopped pid $pid ($(basename "$pidfile" .pid))"
    fi
    rm -f "$pidfile"
  done
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
