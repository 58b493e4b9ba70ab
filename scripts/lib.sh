# Shared helpers for Tether's scripts: logging and idempotent installs. Sourced, not run.

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

ensure_cargo() {
  if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck source=/dev/null
    source "$HOME/.cargo/env"
  fi
  command -v cargo >/dev/null 2>&1 || {
    echo "cargo not found: install Rust with rustup first" >&2
    exit 1
  }
}

ensure_rustup_component() {
  if rustup component list --installed 2>/dev/null | grep -q "^$1"; then
    return
  fi
  log "installing rustup component $1"
  rustup component add "$1"
}

ensure_rustup_target() {
  if rustup target list --installed 2>/dev/null | grep -qx "$1"; then
    return
  fi
  log "installing rustup target $1"
  rustup target add "$1"
}

# ensure_cargo_tool CRATE VERSION BINARY [CARGO_INSTALL_FLAGS]: installs CRATE@VERSION from
# crates.io unless BINARY is on PATH at VERSION.
ensure_cargo_tool() {
  local crate="$1" version="$2" binary="$3" flags="${4:-}"
  if command -v "$binary" >/dev/null 2>&1; then
    # By the tool's own --version, or, for a tool without one, by cargo's record of installs.
    if "$binary" --version 2>/dev/null | grep -q "$version" ||
      cargo install --list | grep -q "^$crate v$version:"; then
      return
    fi
  fi
  log "installing $crate $version (cargo install; a few minutes)"
  # shellcheck disable=SC2086
  cargo install $flags "$crate" --version "$version"
}

# ensure_apt [--APT_FLAG...] PACKAGE...: installs the Debian packages that are missing, passing the
# leading flags (`--no-install-recommends`, say) to `apt-get install`.
ensure_apt() {
  local flags=() missing=()
  while [ $# -gt 0 ] && [ "${1#--}" != "$1" ]; do
    flags+=("$1")
    shift
  done
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]} (apt)"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${flags[@]}" "${missing[@]}" >/dev/null
}

# ensure_npm DIR [--omit=dev]: installs DIR's npm packages exactly as its package-lock.json pins
# them (`npm ci`), unless DIR/node_modules already holds those versions. With --omit=dev, only
# the non-dev packages are checked and installed.
ensure_npm() {
  local dir="$1" omit="${2:-}"
  if ! command -v npm >/dev/null 2>&1; then
    ensure_apt nodejs npm
  fi
  if node -e '
    const fs = require("fs");
    const [dir, omitDev] = process.argv.slice(1);
    const want = JSON.parse(fs.readFileSync(`${dir}/package-lock.json`, "utf8")).packages;
    let have = {};
    try {
      have = JSON.parse(fs.readFileSync(`${dir}/node_modules/.package-lock.json`, "utf8")).packages;
    } catch {}
    for (const [path, info] of Object.entries(want)) {
      if (!path || (omitDev && info.dev)) continue;
      if (!have[path] || have[path].version !== info.version) process.exit(1);
    }' "$dir" "$omit"; then
    return
  fi
  log "installing npm packages in $dir (npm ci)"
  # shellcheck disable=SC2086
  (cd "$dir" && npm ci --no-audit --no-fund $omit)
}

# Pinned versions of the app's build tools (scripts/setup.sh installs them). wasm-bindgen-cli must
# equal the wasm-bindgen in Cargo.lock; trunk 0.22 needs a newer Rust than we pin. binaryen
# (wasm-opt) and terser are pinned in e2e/package-lock.json.
WASM_BINDGEN_VERSION=0.2.130
TRUNK_VERSION=0.21.14
WASM_SPLIT_VERSION=0.2.4

# app_sources_hash: a hash of everything the chat app's release build is made from: its sources,
# the crates it uses, the lockfiles, the build's configuration and hook, and the tools' versions.
# The same hash, the same dist/ (scripts/prebuilt.sh checks it).
app_sources_hash() {
  {
    find app client-wasm/src client-wasm/Cargo.toml protocol index.html Trunk.toml Cargo.toml \
      Cargo.lock scripts/post-build.sh e2e/package-lock.json -type f -print0 |
      LC_ALL=C sort -z | xargs -0 sha256sum
    echo "wasm-bindgen $WASM_BINDGEN_VERSION trunk $TRUNK_VERSION wasm-split $WASM_SPLIT_VERSION"
  } | sha256sum | cut -c1-64
}

# build_app: builds the chat app into dist/ with trunk (release, offline), as `trunk build
# --release` does, unless dist/ was built by this function from the same sources (dist/.sources).
build_app() {
  local want
  want="$(app_sources_hash)"
  if [ "$(cat dist/.sources 2>/dev/null)" = "$want built" ]; then
    log "the app in dist/ is up to date"
    return
  fi
  log "building the app (trunk build --release; a few minutes the first time)"
  trunk build --release --offline
  echo "$want built" >dist/.sources
}

# install_app: makes dist/ hold the chat app built from these sources, the cheapest way: as it
# is, from prebuilt/app/ when that was built from them (no wasm toolchain needed), or by building
# it (the wasm toolchain installed first).
install_app() {
  local want
  want="$(app_sources_hash)"
  case "$(cat dist/.sources 2>/dev/null)" in
    "$want built" | "$want prebuilt")
      log "the app in dist/ is up to date"
      ;;
    *)
      if bash scripts/prebuilt.sh install; then
        log "the app from prebuilt/app/ (built from these sources)"
      else
        log "the app's sources differ from prebuilt/app/: building it"
        bash scripts/setup.sh app
        build_app
      fi
      ;;
  esac
}

# start_test_server [SERVER_ARGS...]: builds tether-server and tether-supervisor (debug), starts the
# supervisor (which runs the server with SERVER_ARGS on a free port, can kill and restart it when
# a test asks, and puts a fault proxy in front of it), waits until it is ready, and exports
# TETHER_TEST_URL (the server), TETHER_TEST_FAULT_URL (the proxy, for `?fault=...`) and
# TETHER_TEST_CONTROL (the supervisor). The supervisor stops when the calling script exits.
start_test_server() {
  cargo build --locked -p tether-server -p tether-testkit
  TETHER_READY_FILE="$(mktemp)"
  rm -f "$TETHER_READY_FILE"
  ./target/debug/tether-supervisor --server target/debug/tether-server \
    --ready-file "$TETHER_READY_FILE" --max-lifetime 20m -- "$@" &
  TETHER_SUPERVISOR=$!
  trap stop_test_server EXIT
  local _
  for _ in $(seq 1 300); do
    [ -s "$TETHER_READY_FILE" ] && break
    kill -0 "$TETHER_SUPERVISOR" 2>/dev/null || {
      echo "tether-supervisor exited" >&2
      exit 1
    }
    sleep 0.1
  done
  [ -s "$TETHER_READY_FILE" ] || {
    echo "the test server did not start in 30 s" >&2
    exit 1
  }
  set -a
  # shellcheck source=/dev/null
  source "$TETHER_READY_FILE"
  set +a
  log "test server at $TETHER_TEST_URL, fault proxy at $TETHER_TEST_FAULT_URL, supervisor at $TETHER_TEST_CONTROL"
}

# start_auth_test_server: starts a second tether-server (debug) with token auth on
# (`--jwt-secret tether-browser-tests`, the secret the client's browser tests sign their tokens
# with), on a free port and its own data folder, and exports TETHER_TEST_AUTH_URL. Call it after
# start_test_server: it stops with it.
start_auth_test_server() {
  TETHER_AUTH_DIR="$(mktemp -d)"
  NO_COLOR=1 ./target/debug/tether-server --addr 127.0.0.1:0 --jwt-secret tether-browser-tests \
    --data-dir "$TETHER_AUTH_DIR/data" --static-dir /nonexistent --address-connect-rate 0 \
    2>"$TETHER_AUTH_DIR/log" &
  TETHER_AUTH_SERVER=$!
  local _ address=""
  for _ in $(seq 1 300); do
    address="$(grep -o 'listening on http://[0-9.:]*' "$TETHER_AUTH_DIR/log" | head -1 | cut -d/ -f3 || true)"
    [ -n "$address" ] && break
    kill -0 "$TETHER_AUTH_SERVER" 2>/dev/null || {
      echo "the auth test server exited: $(cat "$TETHER_AUTH_DIR/log")" >&2
      exit 1
    }
    sleep 0.1
  done
  [ -n "$address" ] || {
    echo "the auth test server did not start in 30 s" >&2
    exit 1
  }
  export TETHER_TEST_AUTH_URL="ws://$address/ws"
  log "test server with token auth at $TETHER_TEST_AUTH_URL"
}

stop_test_server() {
  kill "$TETHER_SUPERVISOR" 2>/dev/null || true
  wait "$TETHER_SUPERVISOR" 2>/dev/null || true
  rm -f "$TETHER_READY_FILE"
  if [ -n "${TETHER_AUTH_SERVER:-}" ]; then
    kill "$TETHER_AUTH_SERVER" 2>/dev/null || true
    wait "$TETHER_AUTH_SERVER" 2>/dev/null || true
    rm -rf "$TETHER_AUTH_DIR"
  fi
}
