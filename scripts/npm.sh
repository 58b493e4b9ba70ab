#!/usr/bin/env bash
# Builds the npm package tether-ws (tether-client's JavaScript API: the `js` feature, without the
# default `socket` one, so that no web-sys is linked) with wasm-pack: the `--target web` and
# `--target bundler` builds side by side in one package, plus the hand-written wrapper, types,
# README and package.json from client-wasm/npm/package/, then packs it with `wasm-pack pack`
# (ready for `wasm-pack publish`; nothing is published here).
# Prints what a page pays: the .wasm, and the JS (wasm-bindgen's glue and the wrapper, bundled
# and minified by terser), raw and gzip -9.
#
#   scripts/npm.sh        # -> target/npm/tether-ws/ and target/npm/tether-ws-VERSION.tgz
#
# Output goes under $CARGO_TARGET_DIR/npm when CARGO_TARGET_DIR is set (wasm-pack builds there too).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
ensure_cargo
# wasm-opt from binaryen 132 (e2e/), never Debian's: wasm-pack takes whatever is first on PATH.
ensure_npm e2e --omit=dev
# terser, to measure the JS minified.
ensure_npm client-wasm/npm
export PATH="$PWD/e2e/node_modules/.bin:$PATH"
wasm-opt --version | grep -q "version 132" || {
  echo "wasm-opt on PATH is not binaryen 132: run scripts/setup.sh test" >&2
  exit 1
}
wasm-pack --version | grep -q "0.15.1" || {
  echo "wasm-pack 0.15.1 is not installed: run scripts/setup.sh test" >&2
  exit 1
}

src=client-wasm/npm/package
out="${CARGO_TARGET_DIR:-$PWD/target}/npm"
pkg="$out/tether-ws"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
grep -q "\"version\": \"$version\"" "$src/package.json" || {
  echo "$src/package.json must have the workspace version $version" >&2
  exit 1
}

rm -rf "$out"
mkdir -p "$pkg"
for target in web bundler; do
  log "wasm-pack build --target $target"
  # --no-pack: the package.json is ours; --no-typescript: index.d.ts types the wrapper, and
  # SocketCore is internal.
  wasm-pack --quiet build client-wasm --target "$target" --profile wasm-release --no-pack \
    --no-typescript --out-dir "$pkg/$target" --out-name tether_ws \
    -- --locked --no-default-features --features js
  # wasm-pack's `*` .gitignore would hide the build from npm pack.
  rm -f "$pkg/$target/.gitignore"
  node client-wasm/npm/shorten-imports.mjs "$pkg/$target"
  cp "$src/tether-socket.js" "$pkg/$target/"
  cp "$src/$target.js" "$pkg/$target/index.js"
done
cp "$src/package.json" "$src/README.md" "$src/index.d.ts" LICENSE-MIT LICENSE-APACHE "$pkg/"

log "wasm-pack pack"
wasm-pack --quiet pack "$out" --pkg-dir tether-ws 2> >(grep -v "^npm notice" >&2)
mv "$pkg"/tether-ws-*.tgz "$out/"

# What a page loads: the .wasm, and the web build's three modules, each minified by terser; the
# three are gzipped together, as a bundler would ship them.
terser="client-wasm/npm/node_modules/.bin/terser"
mkdir -p "$out/size"
for module in tether_ws tether-socket index; do
  "$terser" "$pkg/web/$module.js" --module --compress --mangle --ecma 2022 -o "$out/size/$module.min.js"
done
cat "$out/size/tether_ws.min.js" "$out/size/tether-socket.min.js" "$out/size/index.min.js" \
  >"$out/size/tether-ws.min.js"
wasm="$pkg/web/tether_ws_bg.wasm"
gz() { gzip -9 -c "$1" | wc -c; }
row() { printf '  %-34s %7d B %7d B\n' "$1" "$(wc -c <"$2")" "$(gz "$2")"; }
{
  printf '  %-34s %9s %9s\n' "tether-ws $version (--target web)" "raw" "gzip -9"
  row ".wasm (wasm-opt -Oz)" "$wasm"
  row "JS, minified (glue + wrapper)" "$out/size/tether-ws.min.js"
  row "  wasm-bindgen glue alone" "$out/size/tether_ws.min.js"
  row "  tether-socket.js alone" "$out/size/tether-socket.min.js"
  printf '  %-34s %7d B %7d B\n' "total (.wasm + JS)" \
    $(($(wc -c <"$wasm") + $(wc -c <"$out/size/tether-ws.min.js"))) \
    $(($(gz "$wasm") + $(gz "$out/size/tether-ws.min.js")))
} | tee "$out/size.txt"
log "package: $(ls "$out"/tether-ws-*.tgz)"
