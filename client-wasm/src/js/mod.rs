//! The JavaScript API: what the npm package `tether-ws` is built from (with the `js` feature).
//!
//! JavaScript code never sees these types directly. The package's hand-written
//! `tether-socket.js` (in `client-wasm/npm/package/`) defines `class TetherSocket extends
//! EventTarget`, a drop-in superset of the browser's `WebSocket`, and drives a [`SocketCore`]:
//! the same engine (`engine.rs`) as the Rust [`Socket`](crate::Socket), under a host, the
//! [`Emitter`], that hands each event to the wrapper, which builds a real `Event`,
//! `MessageEvent` or `CloseEvent` from it and dispatches it on the `TetherSocket`.
//!
//! Size is the point of the split: the package must stay below socket.io-client's 13 KB gzip.
//! Every export and import costs glue code on both sides of the boundary, so the boundary is
//! narrow and speaks in numbers: events go out as a kind and up to three values, results come
//! back as small status codes ([`status`]), and the wrapper turns both into the objects
//! JavaScript expects (events, `DOMException`s, `Error`s), whose names and texts live only in
//! JavaScript. JSON is the browser's, not serde_json: the wrapper encodes envelopes with
//! `JSON.stringify`, the emitter reads acks with `JSON.parse`. Messages stay JavaScript values
//! ([`Outgoing::Js`](crate::Outgoing::Js)) and are never copied into wasm memory to be sent.
//! Nothing here formats (`format!`, `{:?}`): `core::fmt` would cost kilobytes. `scripts/npm.sh`
//! prints the sizes.
//!
//! # Layout
//! - [`socket_core`]: [`SocketCore`], the class the wrapper drives.
//! - [`emitter`]: [`Emitter`], the engine's host.
//! - [`options`]: the camelCase options object, read into [`SocketOptions`](crate::SocketOptions).
//! - [`status`]: the numbers that cross the boundary: event kinds, states and status codes.

/// The package's allocator: a free list, sorted by address, that merges neighbours on free.
/// dlmalloc, Rust's default on wasm, is faster and costs ~2.8 KB gzip more, which here is a fifth
/// of the budget; a socket allocates little and rarely (strings of events, queue entries).
/// Only with the `js` feature, so Rust users of the crate keep dlmalloc.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: lol_alloc::LockedAllocator<lol_alloc::FreeListAllocator> =
    lol_alloc::LockedAllocator::new(lol_alloc::FreeListAllocator::new());

pub mod emitter;
pub mod options;
pub mod socket_core;
pub mod status;

pub use emitter::Emitter;
pub use socket_core::SocketCore;
