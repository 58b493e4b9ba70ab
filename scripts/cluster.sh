#!/usr/bin/env bash
# Runs the chat on three nodes that behave as one server: HAProxy on http://127.0.0.1:8080
# spreads connections round robin over three tether-server nodes on 127.0.0.1:8081, 8082 and
# 8083, each started with `--redis` on the same Redis (Debian's redis-server on 127.0.0.1:6390,
# appendonly, its files in data/cluster/redis/), so rooms, history and resume tokens are shared:
# kill a node and its clients resume on another. The nodes serve the chat app as scripts/run.sh
# does (the server built in release, the app from prebuilt/app/ or built). Flags are passed to
# every node. Ctrl-c (or SIGTERM) stops everything; a second run starts afresh, after stopping
# what a killed run left behind (the pid files in data/cluster/).
#
# Sets up what is missing first, as scripts/run.sh does, and Debian's redis-server and haproxy
# (`scripts/setup.sh cluster`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh run
bash scripts/setup.sh cluster
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
ensure_cargo

# Debian installs haproxy in /usr/sbin, which a user's PATH may lack.
PATH="$PATH:/usr/sbin"
for tool in redis-server redis-cli haproxy; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "$tool not found: run scripts/setup.sh cluster (it installs redis-server and haproxy)" >&2
    exit 1
  }
done

cluster=data/cluster
redis_port=6390
node_ports=(8081 8082 8083)
proxy_port=8080
redis_url="redis://127.0.0.1:$redis_port/"

# stop_pid NAME COMMAND: stops the process whose pid is in $cluster/NAME.pid, if it is still a
# COMMAND (a pid can be reused after a reboot), and removes the file.
stop_pid() {
  local file="$cluster/$1.pid" pid _
  pid="$(cat "$file" 2>/dev/null)" || return 0
  if [ "$(ps -o comm= -p "$pid" 2>/dev/null)" = "$2" ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

# stop_all: the proxy first, so no client is sent to a node that is stopping, then the nodes
# (SIGTERM: they close their WebSockets with 1001), then Redis (it writes its appendonly file).
stop_all() {
  stop_pid haproxy haproxy
  for port in "${node_ports[@]}"; do
    stop_pid "node-$port" tether-server
  done
  stop_pid redis redis-server
}

# wait_for WHAT PID COMMAND...: waits up to 10 s until COMMAND succeeds, failing early if PID exits.
wait_for() {
  local what="$1" pid="$2" _
  shift 2
  for _ in $(seq 1 100); do
    "$@" >/dev/null 2>&1 && return
    kill -0 "$pid" 2>/dev/null || {
      echo "$what exited while starting" >&2
      exit 1
    }
    sleep 0.1
  done
  echo "$what did not start in 10 s" >&2
  exit 1
}

mkdir -p "$cluster/redis"
running="$(cat "$cluster/cluster.pid" 2>/dev/null)" || true
if [ -n "$running" ] && [ "$running" != $$ ] && grep -qs cluster.sh "/proc/$running/cmdline"; then
  echo "scripts/cluster.sh is already running (pid $running): stop it first (ctrl-c there)" >&2
  exit 1
fi
echo $$ >"$cluster/cluster.pid"
trap 'stop_all; rm -f "$cluster/cluster.pid"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# A run that was killed without its trap (kill -9, a closed terminal) leaves its processes running.
stop_all
for port in "$redis_port" "${node_ports[@]}" "$proxy_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "127.0.0.1:$port is in use (scripts/run.sh?): stop what listens there first" >&2
    exit 1
  fi
done

install_app
log "building the server (release)"
cargo build --release --locked -p tether-server

log "starting Redis on 127.0.0.1:$redis_port (appendonly, files in $cluster/redis/)"
redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$PWD/$cluster/redis" \
  --appendonly yes --logfile "$PWD/$cluster/redis.log" &
echo $! >"$cluster/redis.pid"
# `PING` answers PONG once the appendonly file is loaded (LOADING before).
wait_for Redis $! sh -c "redis-cli -p $redis_port ping | grep -qx PONG"

for port in "${node_ports[@]}"; do
  log "starting node 127.0.0.1:$port (--redis $redis_url)"
  # NO_COLOR: plain text in the log files.
  NO_COLOR=1 ./target/release/tether-server --addr "127.0.0.1:$port" --redis "$redis_url" \
    --proxy-protocol "$@" \
    >"$cluster/node-$port.log" 2>&1 &
  echo $! >"$cluster/node-$port.pid"
done
for port in "${node_ports[@]}"; do
  wait_for "node 127.0.0.1:$port (see $cluster/node-$port.log)" "$(cat "$cluster/node-$port.pid")" \
    curl -sf --haproxy-protocol "http://127.0.0.1:$port/healthz"
done

# scripts/haproxy.cfg.in says what each line does.
servers=$(for port in "${node_ports[@]}"; do echo "    server node-$port 127.0.0.1:$port"; done)
servers="$servers" awk -v port="$proxy_port" -v socket="$PWD/$cluster/haproxy.sock" '
  /^@SERVERS@$/ { print ENVIRON["servers"]; next }
  { gsub(/@PORT@/, port); gsub(/@SOCKET@/, socket); print }
' scripts/haproxy.cfg.in >"$cluster/haproxy.cfg"
haproxy -c -q -f "$cluster/haproxy.cfg"
log "starting HAProxy on 127.0.0.1:$proxy_port"
haproxy -db -f "$cluster/haproxy.cfg" >"$cluster/haproxy.log" 2>&1 &
echo $! >"$cluster/haproxy.pid"
wait_for HAProxy $! curl -sf "http://127.0.0.1:$proxy_port/healthz"

log "the chat on http://127.0.0.1:$proxy_port, served by three nodes:"
printf '    %-8s %-16s %-7s %s\n' what address pid "files (in $cluster/)" >&2
printf '    %-8s %-16s %-7s %s\n' haproxy "127.0.0.1:$proxy_port" "$(cat "$cluster/haproxy.pid")" \
  "haproxy.cfg, haproxy.log, haproxy.sock (admin)" >&2
for port in "${node_ports[@]}"; do
  printf '    %-8s %-16s %-7s %s\n' node "127.0.0.1:$port" "$(cat "$cluster/node-$port.pid")" \
    "node-$port.log" >&2
done
printf '    %-8s %-16s %-7s %s\n' redis "127.0.0.1:$redis_port" "$(cat "$cluster/redis.pid")" \
  "redis/ (appendonly), redis.log" >&2
log "kill -9 \$(cat $cluster/node-${node_ports[0]}.pid) and its clients resume on the others; ctrl-c stops all"

# A node that exits leaves the others serving; Redis or HAProxy exiting ends the run.
while true; do
  exited=""
  wait -n -p exited || true
  [ -n "$exited" ] || break
  for port in "${node_ports[@]}"; do
    if [ "$exited" = "$(cat "$cluster/node-$port.pid" 2>/dev/null)" ]; then
      log "node 127.0.0.1:$port exited (see $cluster/node-$port.log); HAProxy sends its clients to the others"
      rm -f "$cluster/node-$port.pid"
      continue 2
    fi
  done
  echo "Redis or HAProxy exited (pid $exited): stopping the cluster" >&2
  exit 1
done
