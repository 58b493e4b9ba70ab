#!/usr/bin/env bash
# Runs the chat: the server on http://127.0.0.1:8080 (WebSocket on /ws) serving the chat app on /,
# with its history in ./data (SQLite). Flags are passed to the server (`scripts/run.sh --help`
# lists them); ctrl-c stops it gracefully.
#
# It sets up what is missing and builds only what it must: the server (release), and the app
# only when its sources differ from the build kept in prebuilt/app/ (then the wasm toolchain is
# installed and the app built with trunk; scripts/prebuilt.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh run
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
ensure_cargo
install_app
log "building the server (release)"
cargo build --release --locked -p tether-server
log "starting the server (http://127.0.0.1:8080 unless --addr says otherwise)"
exec ./target/release/tether-server "$@"
