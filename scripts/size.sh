#!/usr/bin/env bash
# Prints what tether-client costs in a page on its own: client-wasm/examples/minimal.rs (connect,
# join, log, one request) built in the size-optimised `wasm-release` profile, through wasm-bindgen
# and, when binaryen's wasm-opt is on PATH, `wasm-opt -Oz`; raw and gzip -9 sizes of the .wasm and
# of the JS glue.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
ensure_cargo
[ -d e2e/node_modules/.bin ] && PATH="$PWD/e2e/node_modules/.bin:$PATH"

out=target/size
rm -rf "$out" && mkdir -p "$out"
cargo build --locked --target wasm32-unknown-unknown --profile wasm-release -p tether-client --example minimal
wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section --out-dir "$out" \
  target/wasm32-unknown-unknown/wasm-release/examples/minimal.wasm
wasm="$out/minimal_bg.wasm"
if command -v wasm-opt >/dev/null 2>&1 && wasm-opt --version | grep -q "version 132"; then
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    -o "$out/minimal_opt.wasm" "$wasm"
  wasm="$out/minimal_opt.wasm"
else
  log "binaryen 132 wasm-opt not on PATH: sizes are without wasm-opt"
fi
size() { printf '%-28s %8d B raw %8d B gzip -9\n' "$1" "$(wc -c <"$2")" "$(gzip -9 -c "$2" | wc -c)"; }
size "client .wasm ($(basename "$wasm"))" "$wasm"
size "JS glue (minimal.js)" "$out/minimal.js"
