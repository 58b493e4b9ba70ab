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

# build_app: builds the chat app into dist/ with trunk (release, offline), unless dist/ is newer
# than every source it is built from. wasm-opt comes from e2e/node_modules (binaryen 132).
build_app() {
  export PATH="$PWD/e2e/node_modules/.bin:$PATH"
  if [ -f dist/index.html ] && [ -z "$(find app client-wasm/src client-wasm/Cargo.toml protocol/src \
    index.html Trunk.toml Cargo.toml Cargo.lock scripts/post-build.sh -newer dist/index.html -print -quit)" ]; then
    log "the app in dist/ is up to date"
    return
  fi
  log "building the app (trunk build --release; a few minutes the first time)"
  trunk build --release --offline
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

stop_test_server() {
  kill "$TETHER_SUPERVISOR" 2>/dev/null || true
  wait "$TETHER_SUPERVISOR" 2>/dev/null || true
  rm -f "$TETHER_READY_FILE"
}
