#!/usr/bin/env bash
# Tests the npm package tether-ws as a user gets it: builds and packs it (scripts/npm.sh),
# installs the tarball into a scratch folder, runs client-wasm/npm/test/page.html there in
# headless Chromium and Firefox against the real server run by tether-supervisor (each browser
# twice: the browser's WebSocket, then TetherSocket), and type-checks client-wasm/npm/test/
# example.ts against the installed types with `tsc --strict --noEmit`, and loads the bundler build
# in Node. Called by scripts/test.sh after setup.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
ensure_cargo

bash scripts/npm.sh
# Where npm.sh put the package: under CARGO_TARGET_DIR when it is set.
npm_dir="${CARGO_TARGET_DIR:-$PWD/target}/npm"
tarball="$(ls "$npm_dir"/tether-ws-*.tgz)"

log "installing $(basename "$tarball") into $npm_dir/test"
test_dir="$npm_dir/test"
rm -rf "$test_dir"
mkdir -p "$test_dir"
cp client-wasm/npm/test/page.html client-wasm/npm/test/page.js client-wasm/npm/test/example.ts \
  client-wasm/npm/test/tsconfig.json "$test_dir/"
echo '{ "private": true, "type": "module" }' >"$test_dir/package.json"
(cd "$test_dir" && npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error "$tarball")

log "tsc --strict --noEmit: client-wasm/npm/test/example.ts against the installed types"
client-wasm/npm/node_modules/.bin/tsc -p "$test_dir/tsconfig.json"
# The public surface promises no `any`: look for one outside comments.
if sed -e 's|/\*.*\*/||g' -e 's|//.*||' -e '/\/\*/,/\*\//d' "$test_dir/node_modules/tether-ws/index.d.ts" | grep -nw any; then
  echo "index.d.ts has an \`any\` in the public surface" >&2
  exit 1
fi

# The bundler build is for bundlers that import .wasm as a module; Node does that too (behind a
# flag), which is enough to prove the installed build instantiates and answers.
log "the --target bundler build, imported as a module by Node"
(cd "$test_dir" && node --no-warnings --experimental-wasm-modules --input-type=module -e "
  import { TetherSocket } from 'tether-ws/bundler';
  let error;
  try { new TetherSocket('ftp://example.invalid/ws'); } catch (e) { error = e; }
  if (TetherSocket.OPEN !== 1 || error?.name !== 'SyntaxError') throw new Error('bundler build: ' + error);
  console.log('tether-ws/bundler: loads, and refuses an ftp: URL with a SyntaxError');
")

start_test_server --test-mode

log "tether-ws in a plain page, headless Chromium and Firefox"
TETHER_NPM_TEST_DIR="$test_dir" CHROMIUM="$(command -v chromium)" FIREFOX="$(command -v firefox-esr)" \
  GECKODRIVER="$(command -v geckodriver)" \
  node --test --test-concurrency=1 client-wasm/npm/test/run.mjs
