#!/usr/bin/env bash
# Runs tether-client's browser tests (client-wasm/tests/browser.rs) in headless Chromium and then
# headless Firefox, against the real server run by tether-supervisor (which can kill and restart
# it when a test asks). Called by scripts/test.sh after setup; assumes the tools are installed.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
ensure_cargo

cargo build --locked -p tether-server -p tether-testkit

ready_file="$(mktemp)"
rm -f "$ready_file"
./target/debug/tether-supervisor --server target/debug/tether-server --ready-file "$ready_file" \
  --max-lifetime 20m -- --test-mode &
supervisor=$!
trap 'kill "$supervisor" 2>/dev/null || true; wait "$supervisor" 2>/dev/null || true; rm -f "$ready_file"' EXIT

for _ in $(seq 1 300); do
  [ -s "$ready_file" ] && break
  kill -0 "$supervisor" 2>/dev/null || { echo "tether-supervisor exited" >&2; exit 1; }
  sleep 0.1
done
[ -s "$ready_file" ] || { echo "the test server did not start in 30 s" >&2; exit 1; }
set -a
# shellcheck source=/dev/null
source "$ready_file"
set +a
log "test server at $TETHER_TEST_URL, supervisor at $TETHER_TEST_CONTROL"

# Each browser test waits for real reconnects; the runner's default 20 s per-run limit is too
# short for the whole file.
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-180}"

log "tether-client in headless Chromium"
CHROMEDRIVER="$(command -v chromedriver)" \
  cargo test --locked --target wasm32-unknown-unknown -p tether-client --test browser

log "tether-client in headless Firefox"
GECKODRIVER="$(command -v geckodriver)" \
  cargo test --locked --target wasm32-unknown-unknown -p tether-client --test browser
