#!/usr/bin/env bash
# Fuzzes the server's input parsers with libFuzzer (cargo-fuzz), each target for a bounded time.
#
#   scripts/fuzz.sh                            # each target for 60 s: what scripts/test.sh runs
#   scripts/fuzz.sh 600                        # each target for 10 minutes
#   FUZZ_TARGETS=frames scripts/fuzz.sh 3600   # one target for an hour
#
# The targets live in fuzz/ (a cargo-fuzz package outside the workspace; fuzz/src/lib.rs says what
# each checks):
#   decode     client text to message (tether_server::decode)
#   handshake  request heads through the real server over TCP, and the handshake in process
#   frames     bytes after the upgrade through the connection task, and the frame scanner
#
# Stable Rust is enough: cargo-fuzz wants nightly only for its sanitizers, and the targets are
# built without one (`--sanitizer none`: the server is safe Rust), still with libFuzzer's coverage
# instrumentation, debug assertions and overflow checks. Each target starts from its committed
# seeds (fuzz/corpus/TARGET, only read here) and what earlier runs on this machine kept
# (fuzz/target/corpus/TARGET), and stops at its first failure: a panic (a target's check, or any
# panic in the server), one input taking over 10 s, or over 2 GiB of memory. The input is kept in
# fuzz/artifacts/TARGET/; the other targets still run, then the script exits non-zero.
#
# Called by scripts/test.sh after setup, which installs cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
ensure_cargo

seconds="${1:-60}"
read -r -a targets <<<"${FUZZ_TARGETS:-decode handshake frames}"
command -v cargo-fuzz >/dev/null 2>&1 || {
  echo "cargo-fuzz not found: run scripts/setup.sh test" >&2
  exit 1
}

# cargo-fuzz has no --locked: check the lock file first, so the build takes what it pins.
if ! cargo fetch --locked --quiet --manifest-path fuzz/Cargo.toml; then
  echo "fuzz/Cargo.lock is behind the server's dependencies. Start it from the workspace's lock" >&2
  echo "and let cargo add what fuzzing needs, then commit it:" >&2
  echo "  cp Cargo.lock fuzz/Cargo.lock && cargo fetch --manifest-path fuzz/Cargo.toml" >&2
  exit 1
fi

started=$SECONDS
log "building the fuzz targets (cargo fuzz build --sanitizer none: release, instrumented)"
cargo fuzz build --fuzz-dir fuzz --sanitizer none
log "fuzz targets built in $((SECONDS - started)) s"

# `stat::NAME: VALUE` from a libFuzzer log.
fuzz_stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -n 1; }

failed=()
for target in "${targets[@]}"; do
  found="fuzz/target/corpus/$target"
  out="fuzz/target/fuzz-$target.log"
  mkdir -p "$found"
  log "fuzzing $target for $seconds s"
  # Inputs of 4 KiB at most: enough for a request head, a few frames or a long message, and they
  # keep the corpus small.
  status=0
  target_started=$SECONDS
  cargo fuzz run --fuzz-dir fuzz --sanitizer none "$target" "$found" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 >"$out" 2>&1 || status=$?
  corpus="$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$out" | tail -n 1 | cut -d' ' -f2)"
  printf '%-10s %10s executions  %7s exec/s  corpus %-12s %4s s  %s\n' "$target" \
    "$(fuzz_stat number_of_executed_units "$out")" "$(fuzz_stat average_exec_per_sec "$out")" \
    "${corpus:-?}" "$((SECONDS - target_started))" \
    "$([ "$status" -eq 0 ] && echo "no crash" || echo "FAILED (exit $status)")"
  if [ "$status" -ne 0 ]; then
    failed+=("$target")
    # The failure's message and its input: libFuzzer's own report, without the mutation log.
    grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)|^[[:space:]]+NEW_FUNC' "$out" | tail -n 60 >&2
    grep -E 'Test unit written to|Failing input' -A2 "$out" >&2 || true
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing failed: ${failed[*]} (the full logs are fuzz/target/fuzz-TARGET.log)" >&2
  exit 1
fi
log "fuzzing: no failure in ${#targets[@]} targets, ${seconds} s each"
