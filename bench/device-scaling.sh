#!/usr/bin/env bash
# Throughput by number of nodes (1, 2 and 4) on a machine with 16 cores or more, where each node
# gets cores of its own: the scaling curve that a 2-core development machine cannot show (there,
# every node, Redis and the generator share the same two cores). Tether with --redis and
# Socket.IO with @socket.io/redis-adapter, the cluster fan-out of `tether-bench cluster
# --scenarios nodes`: 100 members × 10 senders, closed loop, every member round-robin over the
# nodes; 2 runs of each point.
#
#   bench/device-scaling.sh            # writes $OUT (or target/bench)/device-scaling.{md,json}
#
# CPUs: Redis on 0, node i on 1+2i and 2+2i (4 nodes: 1-8), the generator on 9-15. Needs no
# network: everything is built beforehand, on a machine with the same architecture and glibc:
#
#   cargo build --release --locked -p tether-server -p tether-bench
#   scripts/bench.sh --quick     # or: (cd bench/peers && npm ci)   — installs node_modules
#
# and the machine needs node (20+), redis-server and taskset on its PATH. The ignored paths to
# take along: target/release/tether-server, target/release/tether-bench, bench/peers/node_modules
# (about 25 MB together). Bounded: the whole run is stopped after 9.5 minutes (about 3 minutes
# expected), with every server and Redis it started.
set -euo pipefail
cd "$(dirname "$0")/.."

out="${OUT:-target/bench}"
bin=target/release
missing=()
for file in "$bin/tether-server" "$bin/tether-bench" bench/peers/node_modules/@socket.io/redis-adapter; do
  [ -e "$file" ] || missing+=("$file")
done
for tool in node redis-server taskset timeout; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool (not on PATH)")
done
if [ ${#missing[@]} -gt 0 ]; then
  printf 'missing: %s\n' "${missing[@]}" >&2
  echo "build and install them beforehand (see the top of $0)" >&2
  exit 1
fi
cpus="$(nproc)"
if [ "$cpus" -lt 16 ]; then
  echo "this run needs 16 CPUs (Redis 1, 4 nodes × 2, the generator 7); this machine has $cpus" >&2
  exit 1
fi

# 19,500 connections are not needed here, but the generator and the servers inherit the limit.
ulimit -n "$(ulimit -Hn)"
mkdir -p "$out"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $cpus CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)" >&2

# timeout signals its whole process group: the generator, the nodes and Redis it started.
timeout --kill-after=20 570 taskset -c 9-15 "$bin/tether-bench" cluster \
  --scenarios nodes --nodes 1,2,4 --servers tether,socketio --runs 2 \
  --redis-cpus 0 --node-cpus 1-2 --node-cpus 3-4 --node-cpus 5-6 --node-cpus 7-8 \
  --tether-bin "$bin/tether-server" --peers bench/peers \
  --json "$out/device-scaling.json" | tee "$out/device-scaling.md"
