#!/usr/bin/env bash
# Benchmarks Tether's server against the guide's Node ws chat server and a Socket.IO 4 server with
# the same rooms, in one run, with one load generator (tether-bench), on this machine.
#
#   scripts/bench.sh            # the full suite, about 10 minutes: target/bench/results.{md,json,svg}
#   scripts/bench.sh --quick    # every scenario, small: a smoke run of about a minute
#   scripts/bench.sh --servers tether --scenarios fan-out,latency    # any tether-bench suite flags
#   scripts/bench.sh --servers tether,socketio \
#     --scenarios cluster-fan-out,cluster-latency,cluster-idle,cluster-nodes   # several nodes on Redis
#   BENCH_PROFILE=dev scripts/bench.sh --quick   # debug builds: what the test command runs
#
# Installs what it needs (Rust, Node and the peers' npm packages, pinned in
# bench/peers/package-lock.json, and redis-server for the cluster scenarios, which start their
# own on free ports), builds tether-server and tether-bench in release mode, raises
# the open-file limit to the hard limit (19,500 connections need as many descriptors in the
# generator and in the server), and runs `tether-bench suite`. Loopback only; every scenario
# stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

ensure_cargo
ensure_npm bench/peers
command -v redis-server >/dev/null 2>&1 || ensure_apt redis-server
profile="${BENCH_PROFILE:-release}"
log "building tether-server and tether-bench ($profile)"
cargo build --profile "$profile" --locked -p tether-server -p tether-bench
ulimit -n "$(ulimit -Hn)"
target="${CARGO_TARGET_DIR:-$PWD/target}"
bin="$target/$([ "$profile" = dev ] && echo debug || echo "$profile")"
exec "$bin/tether-bench" suite --tether-bin "$bin/tether-server" \
  --peers bench/peers --out "$target/bench" "$@"
