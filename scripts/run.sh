#!/usr/bin/env bash
# Sets up what is missing, builds the chat app into dist/ (trunk, release; skipped when dist/ is
# newer than its sources), then runs the chat server on http://127.0.0.1:8080 (WebSocket on /ws)
# serving the app on /. Flags are passed to the server
# (`scripts/run.sh --help` lists them); ctrl-c stops it gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh run
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
ensure_cargo
build_app
log "building the server (release)"
cargo build --release --locked -p tether-server
log "starting on http://127.0.0.1:8080"
exec ./target/release/tether-server "$@"
