#!/usr/bin/env bash
# The chat app as built by the project's scripts, kept in the repository (prebuilt/app/: the
# release build's gzipped files, and SOURCES: the hash of everything it was built from, then the
# compiler and CARGO_HOME it was built with), so that
# scripts/run.sh serves it without installing the wasm toolchain when the app's sources are those
# it was built from. CI rebuilds the app and fails unless the result equals it byte for byte, so
# what a user gets is exactly what the sources build.
#
#   scripts/prebuilt.sh hash       prints the hash of the app's sources and build tools
#   scripts/prebuilt.sh install    puts prebuilt/app/ into dist/ if built from these sources
#                                  (exit 1 if not)
#   scripts/prebuilt.sh update     builds the app (scripts/setup.sh app first) and stores it in
#                                  prebuilt/app/: run it, and commit prebuilt/, after changing the app
#   scripts/prebuilt.sh check      builds the app afresh and fails unless prebuilt/app/ was built
#                                  from these sources and equals the build (scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

stored=prebuilt/app

# The compiler and the registry's path, on one line.
build_toolchain() {
  echo "$(rustc --version), CARGO_HOME ${CARGO_HOME:-$HOME/.cargo}"
}

case "${1:-}" in
  hash)
    app_sources_hash
    ;;
  install)
    want="$(app_sources_hash)"
    [ -f "$stored/SOURCES" ] && [ "$(head -n1 "$stored/SOURCES")" = "$want" ] || exit 1
    rm -rf dist
    mkdir -p dist
    for packed in "$stored"/*.gz; do
      name="$(basename "$packed" .gz)"
      cp "$packed" "dist/$name.gz"
      gzip -dc "$packed" >"dist/$name"
    done
    echo "$want prebuilt" >dist/.sources
    ;;
  update)
    bash scripts/setup.sh app
    ensure_cargo
    build_app
    rm -rf "$stored"
    mkdir -p "$stored"
    cp dist/*.gz "$stored/"
    {
      app_sources_hash
      build_toolchain
    } >"$stored/SOURCES"
    log "stored $(find "$stored" -name '*.gz' | wc -l) files in $stored: commit prebuilt/"
    ;;
  check)
    want="$(app_sources_hash)"
    have="$(head -n1 "$stored/SOURCES" 2>/dev/null || true)"
    [ "$have" = "$want" ] || {
      echo "prebuilt/app/ was built from other sources ($have, these are $want):" >&2
      echo "run scripts/prebuilt.sh update and commit prebuilt/" >&2
      exit 1
    }
    ensure_cargo
    build_app
    # The build names its dependencies' source files (panic locations), so the bytes depend on
    # the compiler and on where CARGO_HOME is too: compared where those are the same.
    if [ "$(sed -n 2p "$stored/SOURCES")" != "$(build_toolchain)" ]; then
      log "prebuilt/app/ was built from these sources, with $(sed -n 2p "$stored/SOURCES");"
      log "this machine has $(build_toolchain): its build is not compared byte for byte"
      exit 0
    fi
    diff <(cd "$stored" && ls -- *.gz) <(cd dist && ls -- *.gz) >&2 || {
      echo "prebuilt/app/ holds other files than the build: run scripts/prebuilt.sh update" >&2
      exit 1
    }
    for packed in "$stored"/*.gz; do
      cmp "$packed" "dist/$(basename "$packed")" || {
        echo "prebuilt/app/$(basename "$packed") differs from the build of these sources" >&2
        exit 1
      }
    done
    log "prebuilt/app/ equals the build of these sources, byte for byte"
    ;;
  *)
    echo "usage: scripts/prebuilt.sh hash|install|update|check" >&2
    exit 2
    ;;
esac
