//! `tether-client`: a resilient browser WebSocket for Rust and, through wasm-pack, for JavaScript.
//!
//! **Status: skeleton.** This crate compiles and re-exports the wire types; the socket itself
//! (heartbeat, reconnect with backoff and jitter, a bounded send queue, request/ack, all owned
//! RAII-style) is the next piece of work. Until then, speak the protocol with the browser's own
//! `WebSocket` and these types:
//!
//! ```
//! use tether_client::protocol::{ClientFrame, ClientMessage, RoomRef};
//!
//! let join = ClientFrame::new(ClientMessage::Join(RoomRef::new("lobby"))).with_id(1);
//! assert_eq!(join.id, Some(1.into()));
//! ```
#![warn(missing_docs)]

/// The wire types shared with the server (`tether-protocol`).
pub use tether_protocol as protocol;
