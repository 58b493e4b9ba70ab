#!/usr/bin/env bash
# Installs what Tether needs on a fresh machine (Debian 12, rustup, Node) and skips what is there.
#
#   scripts/setup.sh run      what `scripts/run.sh` needs to build and run the server: cargo (the
#                             app comes built, from prebuilt/app/, when its sources match)
#   scripts/setup.sh app      what building the chat app needs (`trunk build`, `trunk serve`)
#   scripts/setup.sh cluster  what `scripts/cluster.sh` needs besides that of `run`: Debian's
#                             redis-server and haproxy
#   scripts/setup.sh test     what `scripts/test.sh` needs: all of it
#
# Every tool is pinned; a tool already on PATH at the pinned version is left alone, so a second
# run does nothing. Only the package registries are used (crates.io, apt, npm): prebuilt-binary
# downloads from elsewhere fail on these machines.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

what="${1:-test}"

ensure_cargo

# Pinned versions; the app's build tools are pinned in scripts/lib.sh.
GECKODRIVER_VERSION=0.37.1
CARGO_FUZZ_VERSION=0.13.2

# The app's build: trunk runs cargo and wasm-bindgen (wasm-bindgen-cli), then its post_build hook
# (scripts/post-build.sh) splits the .wasm with wasm-split-cli (crate wasm_split_cli_support) and
# runs wasm-opt (npm binaryen 132, not Debian's binaryen, whose wasm-opt 108 emits .wasm that
# browsers reject) and terser (npm), both from e2e/node_modules.
# Without --locked for wasm-bindgen-cli: a dependency version it locks is missing from the
# registry mirror here.
setup_app_build() {
  ensure_rustup_target wasm32-unknown-unknown
  ensure_cargo_tool wasm-bindgen-cli "$WASM_BINDGEN_VERSION" wasm-bindgen
  ensure_cargo_tool trunk "$TRUNK_VERSION" trunk --locked
  ensure_cargo_tool wasm_split_cli_support "$WASM_SPLIT_VERSION" wasm-split-cli \
    "--locked --features build-binary"
}

case "$what" in
  run) ;;
  app)
    setup_app_build
    # binaryen and terser only: playwright-core is a dev dependency, for the tests.
    ensure_npm e2e --omit=dev
    ;;
  cluster)
    # scripts/cluster.sh starts them itself, on its own ports; neither runs as a service here.
    ensure_apt --no-install-recommends redis-server haproxy
    ;;
  test)
    ensure_rustup_component rustfmt
    ensure_rustup_component clippy
    # The client and the app are browser crates: they are checked for wasm32 in every test run.
    ensure_rustup_target wasm32-unknown-unknown
    # Browser tests: tether-client runs in headless Chromium and Firefox, and in WebKit (WebKitGTK's
    # MiniBrowser, which has no headless mode: xvfb-run gives it a virtual display), through
    # wasm-bindgen-test-runner (from wasm-bindgen-cli) and their WebDriver servers. Like the other
    # apt packages, these take Debian 12's current version (WebKitGTK 2.50.6 when written).
    ensure_apt chromium chromium-driver firefox-esr
    ensure_apt --no-install-recommends webkit2gtk-driver xvfb xauth
    # The cluster: the tests start their own redis-server processes on free ports (never 6379),
    # and scripts/cluster.sh puts HAProxy in front of three nodes. Debian's packages; neither
    # is started as a service here.
    ensure_apt --no-install-recommends redis-server haproxy
    # Without --locked: a dependency version it locks is missing from the registry mirror here.
    ensure_cargo_tool wasm-bindgen-cli "$WASM_BINDGEN_VERSION" wasm-bindgen-test-runner
    ensure_cargo_tool geckodriver "$GECKODRIVER_VERSION" geckodriver --locked
    # The npm package tether-ws (scripts/npm.sh): wasm-pack uses the wasm-bindgen and wasm-opt on PATH.
    ensure_cargo_tool wasm-pack 0.15.1 wasm-pack --locked
    # Fuzzing (scripts/fuzz.sh): cargo-fuzz builds the libFuzzer targets in fuzz/ and runs them.
    ensure_cargo_tool cargo-fuzz "$CARGO_FUZZ_VERSION" cargo-fuzz --locked
    # The app: its build, and its end-to-end test (playwright-core drives Debian's chromium).
    setup_app_build
    ensure_npm e2e
    ;;
  *)
    echo "usage: scripts/setup.sh [run|app|cluster|test]" >&2
    exit 2
    ;;
esac
log "setup ($what) complete"
