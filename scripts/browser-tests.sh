#!/usr/bin/env bash
# Runs tether-client's browser tests (client-wasm/tests/browser.rs) in headless Chromium and then
# headless Firefox, against the real server run by tether-supervisor (which can kill and restart
# it when a test asks). Called by scripts/test.sh after setup; assumes the tools are installed.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
ensure_cargo

start_test_server

# Each browser test waits for real reconnects; the runner's default 20 s per-run limit is too
# short for the whole file.
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-180}"

log "tether-client in headless Chromium"
CHROMEDRIVER="$(command -v chromedriver)" \
  cargo test --locked --target wasm32-unknown-unknown -p tether-client --test browser

log "tether-client in headless Firefox"
GECKODRIVER="$(command -v geckodriver)" \
  cargo test --locked --target wasm32-unknown-unknown -p tether-client --test browser
