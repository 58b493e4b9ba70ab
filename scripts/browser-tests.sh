#!/usr/bin/env bash
# Runs tether-client's browser tests (client-wasm/tests/browser.rs) in headless Chromium, headless
# Firefox and then WebKit (WebKitGTK's MiniBrowser on a virtual X display), against the real server
# run by tether-supervisor (which can kill and restart it when a test asks). Called by
# scripts/test.sh after setup; assumes the tools are installed.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
ensure_cargo

# Every test connects from 127.0.0.1, and one reconnects 500 times: with the server's default
# budget of new connections per address (20/s, burst 200) the tests after it would start with
# 429s and a reconnect, and its own run would be paced by the budget.
start_test_server --address-connect-rate 0
start_auth_test_server

# Each browser test waits for real reconnects; the runner's default 20 s per-run limit is too
# short for the whole file.
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-180}"

log "tether-client in headless Chromium"
CHROMEDRIVER="$(command -v chromedriver)" \
  cargo test --locked --target wasm32-unknown-unknown -p tether-client --test browser

log "tether-client in headless Firefox"
GECKODRIVER="$(command -v geckodriver)" \
  cargo test --locked --target wasm32-unknown-unknown -p tether-client --test browser

# MiniBrowser has no headless mode, so xvfb-run gives it a display. Only SAFARIDRIVER is set: the
# runner checks its variables before PATH, and with GECKODRIVER set Firefox would win.
log "tether-client in WebKit (MiniBrowser under xvfb-run)"
SAFARIDRIVER=/usr/bin/WebKitWebDriver xvfb-run -a \
  cargo test --locked --target wasm32-unknown-unknown -p tether-client --test browser
