//! `tether-client`: a resilient browser WebSocket for Rust, and through wasm-pack for JavaScript.
//!
//! [`Socket`] wraps the browser's `WebSocket` and keeps the same vocabulary (ready states 0–3,
//! open/message/error/close), and adds what real applications need on top:
//!
//! - **heartbeat**: an app-level ping after 25 s of quiet, the connection declared dead if nothing
//!   arrives within 10 s, judged by the wall clock so throttled timers and sleeping laptops are
//!   caught, and an immediate probe when the page becomes visible or the network comes back;
//! - **reconnect** with exponential backoff (1 s × 1.5 up to 30 s), jitter applied after the cap,
//!   10 attempts, the counter reset only after a connection stayed up 5 s, a close-code policy
//!   that never retries what the server refused for good, and no futile attempts while offline;
//! - **tokens**: [`SocketOptions::token`] is asked before every attempt (`?token=`); an expired
//!   token (close 4419) reconnects at once with a fresh one, an invalid one (4401) is final;
//! - a **send queue** bounded by count and bytes: sends while not open wait for the next open,
//!   and one that does not fit is an `Err`, never a silent drop;
//! - **request/ack**: [`Socket::request`] resolves with the server's `ack`, or fails on timeout or
//!   close; **rejoin**: rooms joined with [`Socket::join`] are joined again after a reconnect;
//! - **nothing said is lost**: per room, the position (`epoch`, `seq`) of the last message
//!   delivered; rejoins carry `since` it, so the server replays what was missed, and a message
//!   delivered already is dropped; chat messages sent with `request` carry a `cid` and are sent
//!   again after a reconnect, so each is in the room once and its request resolves once; a room
//!   the server cannot bring up to date is reported ([`SocketEvent::RoomNotRecovered`]);
//!   [`Socket::history`] pages back.
//!
//! Every listener, timer and browser socket is owned: [`Socket::close`], or dropping the last
//! handle, detaches them all. Nothing is ever `forget`-ed.
//!
//! ```no_run
//! use std::time::Duration;
//! use tether_client::{Socket, SocketEvent};
//! use tether_client::protocol::ServerMessage;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let socket = Socket::new("/ws")?; // ws:// or wss:// on the page's host
//! let _subscription = socket.on(|event| {
//!     if let SocketEvent::Message(message) = event
//!         && let Ok(ServerMessage::Message(chat)) = message.json::<ServerMessage>()
//!     {
//!         web_sys::console::log_1(&format!("{}: {}", chat.from, chat.text).into());
//!     }
//! });
//! socket.join("lobby")?;
//! socket
//!     .request("message", &serde_json::json!({"roomId": "lobby", "text": "hi"}), Duration::from_secs(5))
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//! - `machine` (private): the state machine shared by both APIs, with no browser in it: inputs
//!   (opened, closed, a timer fired, a send, a room message...) in, commands (connect, send, join,
//!   ping, emit...) out; `rooms` (private): its rooms and their positions.
//! - `engine` (private): the Rust API's driver of the machine: it owns the browser `WebSocket`,
//!   its listeners, the page's listeners and one timer, reads the few fields the machine needs
//!   from the server's frames, and leaves delivering events to its host.
//! - [`socket`]: [`Socket`], the Rust API: the engine with serde envelopes and `on` listeners;
//!   `envelope` (private): the frames it sends.
//! - `js` (with the `js` feature): the JavaScript API's side of the machine, built by
//!   `scripts/npm.sh` into the npm package `tether-ws` (`client-wasm/npm/`), whose JavaScript is
//!   the other driver.
//! - Pure logic, tested natively with a virtual clock: [`backoff`] (reconnect timing),
//!   [`heartbeat`] (when to ping, when to give up), [`close_policy`] (which close codes are final),
//!   [`send_queue`] (the bounded queue).
//! - [`options`] ([`SocketOptions`]), [`events`] ([`SocketEvent`]), [`state`] ([`ConnectionState`],
//!   [`ReadyState`]), [`error`].
//! - [`token`] ([`TokenProvider`]): the token asked for before every attempt
//!   ([`SocketOptions::token`]).
//! - [`url`]: relative and `http(s):` URLs to `ws(s):`; [`listener`]: self-counting DOM listeners;
//!   [`json_value`] ([`JsonValue`]): JSON read with the browser's parser, no serde decoder.
//!
//! # Features
//! - `socket` (default): the Rust API, [`Socket`], on web-sys.
//! - `js`: the JavaScript API's side of the machine, for the npm package. `scripts/npm.sh` builds
//!   it alone (`--no-default-features --features js`), so the package links no web-sys; and on
//!   wasm32 without `socket` the crate is `no_std` (with `alloc`): std's panic and formatting
//!   path, which only an allocation failure reached, was a tenth of the package (1 KB gzip).
#![warn(missing_docs)]
#![cfg_attr(
    all(not(feature = "socket"), not(test), target_arch = "wasm32"),
    no_std
)]

extern crate alloc;

/// What std's prelude brings, for the modules the `no_std` build compiles (with std, these are
/// the same items).
#[allow(unused_imports)]
mod prelude {
    pub(crate) use alloc::{borrow::ToOwned, boxed::Box, string::String, vec, vec::Vec};
}

/// The `no_std` build's panic: a trap, as std's `panic = "abort"` ends in too, without the
/// message formatting on the way.
#[cfg(all(not(feature = "socket"), not(test), target_arch = "wasm32"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

pub mod backoff;
pub mod close_policy;
#[cfg(feature = "socket")]
mod engine;
#[cfg(feature = "socket")]
mod envelope;
pub mod error;
#[cfg(feature = "socket")]
pub mod events;
pub mod heartbeat;
// Also for the native tests, which check the JavaScript driver's tables against it.
#[cfg(any(feature = "js", test))]
pub mod js;
#[cfg(feature = "socket")]
pub mod json_value;
#[cfg(feature = "socket")]
pub mod listener;
#[cfg(any(feature = "socket", feature = "js", test))]
mod machine;
pub mod options;
#[cfg(any(feature = "socket", feature = "js", test))]
mod rooms;
pub mod send_queue;
#[cfg(feature = "socket")]
pub mod socket;
pub mod state;
#[cfg(feature = "socket")]
pub mod token;
#[cfg(feature = "socket")]
pub mod url;

pub use backoff::{Backoff, ReconnectOptions};
pub use close_policy::{CloseAction, ClosePolicy};
pub use error::SendError;
#[cfg(feature = "socket")]
pub use error::{ConnectError, RequestError};
#[cfg(feature = "socket")]
pub use events::{CloseInfo, Incoming, SocketEvent};
pub use heartbeat::{Heartbeat, HeartbeatOptions};
#[cfg(feature = "socket")]
pub use json_value::JsonValue;
#[cfg(feature = "socket")]
pub use listener::live_listeners;
pub use options::SocketOptions;
pub use send_queue::{Outgoing, Payload, QueueOptions, SendQueue};
#[cfg(feature = "socket")]
pub use socket::{Posted, Socket, Subscription, WeakSocket};
pub use state::{ConnectionState, ReadyState};
#[cfg(feature = "socket")]
pub use token::TokenProvider;

/// The wire types shared with the server (`tether-protocol`).
#[cfg(feature = "socket")]
pub use tether_protocol as protocol;
