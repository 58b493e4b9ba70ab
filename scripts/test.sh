#!/usr/bin/env bash
# Sets up what is missing, then runs every check and test: formatting, clippy (native, and wasm32
# for the browser crates), unit tests, the server's integration tests over real sockets, and doc
# tests, a minute of fuzzing for each of the server's input parsers (scripts/fuzz.sh), browser and
# end-to-end tests, and a small run of the benchmark suite against every server.
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
ensure_cargo

started=$SECONDS
log "cargo fmt --check"
cargo fmt --all --check

log "clippy (native, all targets)"
cargo clippy --locked --workspace --all-targets -- -D warnings

log "clippy (wasm32: tether-client, tether-app)"
cargo clippy --locked --target wasm32-unknown-unknown -p tether-client -p tether-app -- -D warnings

log "tests: protocol golden JSON, server unit and integration tests, doc tests"
cargo test --locked --workspace

log "fuzzing: decode, handshake and frames, 60 s each (scripts/fuzz.sh)"
bash scripts/fuzz.sh 60

log "browser tests: tether-client in headless Chromium and Firefox against the real server"
bash scripts/browser-tests.sh

log "benchmark smoke run: tether-bench against Tether, the guide's Node server and Socket.IO"
BENCH_PROFILE=dev bash scripts/bench.sh --quick >/dev/null

bash scripts/e2e.sh
log "prebuilt/app/ is the build of these sources (scripts/prebuilt.sh check)"
bash scripts/prebuilt.sh check
bash scripts/readme-check.sh
bash scripts/npm-tests.sh
log "all checks passed in $((SECONDS - started)) s"
