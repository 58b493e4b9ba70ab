//! Links the app's wasm32 binary with `--emit-relocs`: the relocations let wasm-split
//! (`scripts/post-build.sh`) move the chat screen into a .wasm of its own.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo::rustc-link-arg-bins=--emit-relocs");
    }
}
