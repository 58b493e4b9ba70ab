#!/usr/bin/env bash
# Trunk's post_build hook (Trunk.toml), for `trunk build` and `trunk serve` alike. It splits the
# chat app's .wasm so that the first load carries only what the nickname screen needs.
#
# Trunk has built the app with cargo (linked with --emit-relocs: app/build.rs) and run
# wasm-bindgen on it; wasm-bindgen drops the relocations that splitting needs, so this starts
# again from cargo's .wasm:
#   1. wasm-split-cli cuts it at its `#[wasm_split]` points (app/src/chat_screen.rs) into a main
#      module, one split_<name>.wasm per split point, and __wasm_split.js, which fetches them;
#   2. wasm-bindgen turns the main module into the same <name>.js and <name>_bg.wasm that trunk
#      made and index.html loads (data-integrity="none" there: the files change here);
#   3. release only: wasm-opt -Oz --converge on every .wasm, terser on both .js files, each
#      split_<name>.wasm renamed with a hash of its content (so a browser never pairs a cached
#      chunk with a newer main module), and every file gzipped beside itself (file.gz), which
#      tether-server sends to browsers that accept gzip.
# Needs wasm-split-cli and wasm-bindgen on PATH (cargo installs them in ~/.cargo/bin), and
# wasm-opt 132 and terser from e2e/node_modules, which this script puts first on PATH itself:
# `scripts/setup.sh app` installs them all. The release output is the same, byte for byte, for the
# same sources and tools (gzip -n: no name or time in the .gz), which `scripts/prebuilt.sh check`
# relies on.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$root/e2e/node_modules/.bin:$PATH"
for tool in wasm-split-cli wasm-bindgen wasm-opt terser; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "post-build: $tool not found: run scripts/setup.sh app" >&2
    exit 1
  }
done
wasm-opt --version | grep -q "version 132" || {
  echo "post-build: $(command -v wasm-opt) is not binaryen 132: run scripts/setup.sh app" >&2
  exit 1
}

staging="${TRUNK_STAGING_DIR:?this is trunk\'s post_build hook: run trunk build}"
release=false
profile=debug
if [ "${TRUNK_PROFILE:-}" = release ]; then
  release=true
  profile=wasm-release # data-cargo-profile-release in index.html
fi
target_dir="$(cargo metadata --format-version 1 --no-deps --offline |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')"
input="$target_dir/wasm32-unknown-unknown/$profile/tether-app.wasm"

# The name trunk gave the app's JS (tether-app-<hash>.js); the main module keeps it.
glue=("$staging"/tether-app-*.js)
[ ${#glue[@]} -eq 1 ] && [ -f "${glue[0]}" ] || {
  echo "post-build: expected one tether-app-*.js in $staging, found: ${glue[*]}" >&2
  exit 1
}
name="$(basename "${glue[0]}" .js)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
wasm-split-cli --target web --out-name "$name" "$input" "$work"
wasm-bindgen --target web --keep-lld-exports --no-typescript \
  --out-dir "$staging" --out-name "$name" "$work/$name.wasm"
mv "$work"/split_*.wasm "$work/__wasm_split.js" "$staging/"
link="$staging/__wasm_split.js"

if $release; then
  for wasm in "$staging/${name}_bg.wasm" "$staging"/split_*.wasm; do
    # A split module keeps a label-names subsection that wasm-opt does not know (and drops).
    wasm-opt -Oz --converge --enable-bulk-memory --enable-nontrapping-float-to-int "$wasm" -o "$wasm" \
      2> >(grep -v "unknown name subsection" >&2)
  done
  for chunk in "$staging"/split_*.wasm; do
    base="$(basename "$chunk" .wasm)"
    hashed="$base-$(sha256sum "$chunk" | cut -c1-16).wasm"
    mv "$chunk" "$staging/$hashed"
    sed -i "s|\"\\./$base\\.wasm\"|\"./$hashed\"|" "$link"
    grep -q "\"./$hashed\"" "$link" || {
      echo "post-build: $base.wasm is not named in __wasm_split.js" >&2
      exit 1
    }
  done
  for js in "$staging/$name.js" "$link"; do
    terser "$js" --module --compress --mangle --output "$js"
  done
  find "$staging" -maxdepth 1 -type f ! -name '*.gz' -exec gzip -9 --no-name --keep --force {} +
fi
echo "post-build: $name.js, ${name}_bg.wasm, __wasm_split.js and $(cd "$staging" && echo split_*.wasm)"
