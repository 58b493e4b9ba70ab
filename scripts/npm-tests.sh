#!/usr/bin/env bash
# Tests the npm package tether-ws as a user gets it: builds and packs it (scripts/npm.sh),
# installs the tarball into a scratch folder, runs client-wasm/npm/test/page.html there in
# headless Chromium, headless Firefox and WebKit against the real server run by tether-supervisor
# (each browser twice: the browser's WebSocket, then TetherSocket), and type-checks
# client-wasm/npm/test/example.ts against the installed types with `tsc --strict --noEmit`, loads
# the bundler build in Node, and bundles the page with Vite and runs that too (in Chromium).
# Called by scripts/test.sh after setup.
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

# What an app that installs tether-ws ships: the same page bundled by Vite, with its defaults
# (the package's default entry, the .wasm found through `new URL(..., import.meta.url)`).
log "the page bundled by Vite from the installed package"
mkdir -p "$test_dir/bundled"
sed -e '/<script type="importmap">/,/<\/script>/d' -e 's|src="./page.js"|src="../page.js"|' \
  -e 's|<!-- A plain page.*-->|<!-- The same page, bundled by Vite. -->|' \
  client-wasm/npm/test/page.html >"$test_dir/bundled/index.html"
vite="$PWD/client-wasm/npm/node_modules/.bin/vite"
(cd "$test_dir/bundled" && "$vite" build --logLevel warn --emptyOutDir --outDir ../vite-dist --base ./)
grep -q 'type="module"' "$test_dir/vite-dist/index.html"
ls "$test_dir"/vite-dist/assets/*.wasm >/dev/null

start_test_server
start_auth_test_server

# WebKit's MiniBrowser has no headless mode: xvfb-run gives the run a display.
log "tether-ws in a plain page, headless Chromium, headless Firefox and WebKit"
TETHER_NPM_TEST_DIR="$test_dir" CHROMIUM="$(command -v chromium)" FIREFOX="$(command -v firefox-esr)" \
  GECKODRIVER="$(command -v geckodriver)" WEBKIT_DRIVER=/usr/bin/WebKitWebDriver \
  xvfb-run -a node --test --test-concurrency=1 client-wasm/npm/test/run.mjs
