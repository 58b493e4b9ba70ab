#!/usr/bin/env bash
# The chat app end to end: builds it (trunk, release) and reports its first-load size, runs its
# component and decoder tests (app/tests/) in headless Chromium, headless Firefox and WebKit, then
# runs e2e/chat.e2e.mjs: playwright-core drives Debian's chromium against the real tether-server
# serving the built app, run by tether-supervisor so the test can restart it mid-chat, and
# e2e/outage.e2e.mjs: a chat through a kill -9 of the server in Chromium and Firefox (WebDriver),
# e2e/auth.e2e.mjs: a chat with token auth whose 2 s tokens expire mid-chat, renewed by the pages
# (the test starts that server itself), and e2e/cluster.e2e.mjs: the same through HAProxy in
# front of three nodes on one Redis, one of them killed (the test starts redis-server, the nodes
# and haproxy itself, on free ports).
# Screenshots and timings land in e2e/screenshots/. Called by scripts/test.sh after setup;
# assumes the tools are installed.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
ensure_cargo
started=$SECONDS

build_app

# First load: index.html, the stylesheet, the JS glue, the main .wasm and the split loader, each
# gzip -9 as a server or CDN would send them; the chat screen's .wasm (split_*.wasm) comes later,
# as the user types a nickname. The budget is 100 KB: over it, the run fails.
total=0
later=0
log "first load, gzip -9:"
for file in dist/*; do
  [ -f "$file" ] || continue
  case "$file" in *.gz) continue ;; esac
  size=$(gzip -9 -c "$file" | wc -c)
  case "${file#dist/}" in
    split_*) later=$((later + size)) ;;
    *) total=$((total + size)) ;;
  esac
  printf '    %-44s %8d bytes raw %8d gzip\n' "${file#dist/}" "$(wc -c <"$file")" "$size" >&2
done
printf '    %-44s %8s           %8d gzip (%d.%d KB)\n' "first load (all but split_*)" "" "$total" \
  $((total / 1000)) $((total % 1000 / 100)) >&2
printf '    %-44s %8s           %8d gzip (%d.%d KB)\n' "the chat screen, on demand" "" "$later" \
  $((later / 1000)) $((later % 1000 / 100)) >&2
[ "$later" -gt 0 ] || { echo "no split_*.wasm in dist/: the app was not split" >&2; exit 1; }
[ "$total" -le 100000 ] || { echo "first load is $total bytes gzip, over the 100 KB budget" >&2; exit 1; }

log "tether-app components and decoder in headless Chromium"
CHROMEDRIVER="$(command -v chromedriver)" \
  cargo test --locked --target wasm32-unknown-unknown -p tether-app --test components --test decode
log "tether-app components and decoder in headless Firefox"
GECKODRIVER="$(command -v geckodriver)" \
  cargo test --locked --target wasm32-unknown-unknown -p tether-app --test components --test decode
# As in scripts/browser-tests.sh: MiniBrowser needs a display, and only SAFARIDRIVER is set.
log "tether-app components and decoder in WebKit (MiniBrowser under xvfb-run)"
SAFARIDRIVER=/usr/bin/WebKitWebDriver xvfb-run -a \
  cargo test --locked --target wasm32-unknown-unknown -p tether-app --test components --test decode

# History in SQLite, as by default, but in a folder of its own: a chat the user runs keeps ./data.
data_dir="$(mktemp -d)"
start_test_server --static-dir "$PWD/dist" --data-dir "$data_dir"
log "app at ${TETHER_TEST_URL%/ws}/, supervisor at $TETHER_TEST_CONTROL"

log "end to end: two people chatting in headless Chromium (e2e/chat.e2e.mjs)"
e2e_started=$SECONDS
CHROMIUM="$(command -v chromium)" node --test --test-concurrency=1 e2e/chat.e2e.mjs
log "end to end: a chat through a kill -9 of the server, in Chromium and Firefox (e2e/outage.e2e.mjs)"
node --test --test-concurrency=1 e2e/outage.e2e.mjs
log "end to end: token auth, tokens expiring mid-chat, in Chromium and Firefox (e2e/auth.e2e.mjs)"
TETHER_SERVER=target/debug/tether-server TETHER_STATIC_DIR=dist \
  node --test --test-concurrency=1 e2e/auth.e2e.mjs
log "end to end: a chat through HAProxy and three nodes on Redis, one killed, in Chromium and Firefox (e2e/cluster.e2e.mjs)"
TETHER_SERVER=target/debug/tether-server TETHER_STATIC_DIR=dist \
  node --test --test-concurrency=1 e2e/cluster.e2e.mjs
log "end-to-end tests took $((SECONDS - e2e_started)) s; scripts/e2e.sh $((SECONDS - started)) s in all"
