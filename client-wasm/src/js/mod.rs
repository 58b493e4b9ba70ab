//! The JavaScript API's side of the state machine: what the npm package `tether-ws` is built
//! from (with the `js` feature).
//!
//! JavaScript code never sees these types directly. The package's hand-written
//! `tether-socket.js` (in `client-wasm/npm/package/`) defines `class TetherSocket extends
//! EventTarget`, a drop-in superset of the browser's `WebSocket`, and is the machine's driver
//! there: it owns the browser `WebSocket`, its listeners, the page's listeners and one timer,
//! feeds what happens to them into a [`SocketCore`] (the same `Machine` as the Rust `Socket`'s),
//! and carries out the commands it reads back.
//!
//! Size is the point of the split: the package must stay below socket.io-client's 13 KB gzip.
//! The wasm holds no JavaScript value, no closure and no string, and imports only wasm-bindgen's
//! own two functions: everything that crosses is a number, which wasm-bindgen passes as it is,
//! and through five methods only, since each export costs glue on both sides. Messages, texts,
//! JSON, URLs and events stay in JavaScript; the machine sees a message's size only (`Held`), and
//! rooms and epochs as numbers the wrapper gives their names.
//! The build links no web-sys or js-sys (`scripts/npm.sh` turns the `socket` feature off): their
//! function-table entries would come along. Nothing here formats (`format!`, `{:?}`), and the
//! machine avoids what panics with a formatted message (indexing, `Vec::remove`). The build is
//! `no_std` (see the crate's features), so std's panic path and `core::fmt` behind it are not
//! linked either. `scripts/npm.sh` prints the sizes.
//!
//! # Layout
//! - [`socket_core`]: [`SocketCore`], the class the wrapper drives.
//! - [`options`]: the numeric options, read into the machine's options.
//! - [`status`]: the numbers that cross the boundary: commands, states and status codes.
//! - `tables` (tests): `tether-socket.js`'s copies of those numbers, of the options' order, of
//!   the event names and of the heartbeat's default texts, checked against the Rust ones. The
//!   module is compiled for the crate's native tests even without the `js` feature, so that
//!   `cargo test -p tether-client` runs them.

/// The package's allocator: a free list, sorted by address, that merges neighbours on free.
/// dlmalloc, Rust's default on wasm, is faster and costs ~2.8 KB gzip more, which here is a fifth
/// of the budget; a socket allocates little and rarely (queue entries, commands).
/// Only with the `js` feature, so Rust users of the crate keep dlmalloc.
#[cfg(all(feature = "js", target_arch = "wasm32"))]
#[global_allocator]
static ALLOCATOR: lol_alloc::LockedAllocator<lol_alloc::FreeListAllocator> =
    lol_alloc::LockedAllocator::new(lol_alloc::FreeListAllocator::new());

pub mod options;
#[cfg(feature = "js")]
pub mod socket_core;
pub mod status;
#[cfg(test)]
mod tables;

#[cfg(feature = "js")]
pub use socket_core::SocketCore;
