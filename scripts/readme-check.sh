#!/usr/bin/env bash
# Walks the README's development commands as a user types them, in a clean clone of HEAD with the
# user's PATH (nothing of the project's on it): after `scripts/setup.sh app`, `trunk build
# --release` must build the first load the project's scripts build (byte for byte the files in
# prebuilt/app/, within the 100 KB budget), `trunk serve` must serve the app, and the bench built as
# the README has it must run its join scenario against a default server. Called by
# scripts/test.sh after scripts/e2e.sh; the clone shares this checkout's target/ folder.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
ensure_cargo

here="$PWD"
work="$(mktemp -d)"
serve_pid=""
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
git clone --quiet "$here" "$work/tether"
export CARGO_TARGET_DIR="$here/target"
cd "$work/tether"

log "README: scripts/setup.sh app, then trunk build --release, with the user's PATH"
bash scripts/setup.sh app >/dev/null
trunk build --release >"$work/build.log" 2>&1 || {
  tail -30 "$work/build.log" >&2
  echo "trunk build --release failed in a clean clone" >&2
  exit 1
}
first_load=0
for packed in dist/*.gz; do
  case "$(basename "$packed")" in split_*) ;; *) first_load=$((first_load + $(stat -c %s "$packed"))) ;; esac
done
log "first load of the README's build: $first_load bytes gzip"
[ "$first_load" -le 100000 ] || {
  echo "the README's trunk build --release makes a first load of $first_load bytes, over 100 KB" >&2
  exit 1
}
# The same files as the project's build, when the compiler and CARGO_HOME are those it was made
# with (scripts/prebuilt.sh check says so otherwise).
if [ "$(sed -n 2p prebuilt/app/SOURCES)" = "$(rustc --version), CARGO_HOME ${CARGO_HOME:-$HOME/.cargo}" ]; then
  for packed in prebuilt/app/*.gz; do
    cmp "$packed" "dist/$(basename "$packed")" || {
      echo "trunk build --release differs from prebuilt/app/ in $(basename "$packed")" >&2
      exit 1
    }
  done
  log "trunk build --release built prebuilt/app/ byte for byte"
fi

log "README: cargo build --release -p tether-bench, then tether-bench join against a default server"
cargo build --release --locked -p tether-bench -p tether-server >/dev/null 2>&1
bench_port="$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')"
"$CARGO_TARGET_DIR/release/tether-server" --addr "127.0.0.1:$bench_port" --data-dir "$work/data" \
  >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$bench_port/healthz" >/dev/null && break
  sleep 0.1
done
"$CARGO_TARGET_DIR/release/tether-bench" join --url "ws://127.0.0.1:$bench_port/ws" --clients 1000 >"$work/join.json" || {
  echo "tether-bench join, as the README has it, failed" >&2
  exit 1
}
grep -q '"clients": 1000' "$work/join.json" || {
  cat "$work/join.json" >&2
  echo "tether-bench join did not get all 1000 clients in" >&2
  exit 1
}
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true

port="$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')"
log "README: trunk serve (on port $port)"
trunk serve --port "$port" >"$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 1 600); do
  page="$(curl -sf "http://127.0.0.1:$port/" || true)"
  wasm="$(printf '%s' "$page" | grep -o 'tether-app-[0-9a-f]*_bg\.wasm' | head -n1 || true)"
  if [ -n "$wasm" ] && curl -sf -o /dev/null "http://127.0.0.1:$port/$wasm"; then
    log "trunk serve serves the app ($wasm)"
    exit 0
  fi
  kill -0 "$serve_pid" 2>/dev/null || break
  sleep 0.5
done
tail -30 "$work/serve.log" >&2
echo "trunk serve did not serve the app within 5 minutes" >&2
exit 1
