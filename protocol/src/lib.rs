//! Wire types of the Tether chat protocol, shared by `tether-server`, `tether-client` and
//! `tether-app`.
//!
//! Every message is a JSON object `{"type": ..., "payload": ...}`, exactly as in the chat server of
//! the WebSocket guide this project grew from, so a client written for that Node server works
//! unchanged against ours. Tether adds a few messages on top (acks, private messages, app-level
//! ping/pong, presence, display names); a client that knows only the guide's messages never sees
//! them unless it asks. `PROTOCOL.md` at the repository root documents every message, error and
//! close code.
//!
//! ```
//! use tether_protocol::{ClientFrame, ClientMessage, JoinRoom, ServerMessage};
//!
//! // What a client sends to join a room, asking for an ack with id 1.
//! let join = ClientFrame::new(ClientMessage::Join(JoinRoom::new("lobby"))).with_id(1);
//! # let json = r#"{"type":"join","payload":{"roomId":"lobby"},"id":1}"#;
//! # let _ = json;
//!
//! // What the server sends back once the client is in the room.
//! let joined: ServerMessage =
//!     serde_json::from_str(r#"{"type":"joined","payload":{"roomId":"lobby","members":2}}"#)
//!         .unwrap();
//! assert!(matches!(joined, ServerMessage::Joined(j) if j.members == 2));
//! # let _ = join;
//! ```
//!
//! # Layout
//! - [`client_message`]: what a client sends ([`ClientMessage`], [`ClientFrame`]).
//! - [`server_message`]: what the server sends ([`ServerMessage`] and its payloads).
//! - [`request_id`]: the optional id that turns any client message into a request answered by an
//!   [`Ack`].
//! - [`error_code`]: the machine-readable code carried by `error` messages and failed acks.
//! - [`close_code`]: the WebSocket close codes the server uses, with their meaning.
//!
//! This crate depends on `serde` only; pick any serde format crate (`serde_json` in practice).
#![warn(missing_docs)]

pub mod client_message;
pub mod close_code;
pub mod error_code;
mod object_only;
pub mod request_id;
pub mod server_message;

pub use client_message::{
    ClientFrame, ClientMessage, HistoryRequest, Identify, JoinRoom, Position, PrivateSend, Refresh,
    RoomRef, SendText,
};
pub use close_code::CloseCode;
pub use error_code::ErrorCode;
pub use request_id::RequestId;
pub use server_message::{
    Ack, ChatMessage, Connected, ErrorPayload, History, Joined, Member, Presence, PrivateMessage,
    ServerMessage, Typing, UserEvent,
};

/// The raw text a client may send instead of JSON to check the connection, as in the guide's
/// `WebSocketClient` (`ws.send('ping')`). The server answers with [`RAW_PONG`].
pub const RAW_PING: &str = "ping";

/// The raw text the server sends in answer to [`RAW_PING`].
pub const RAW_PONG: &str = "pong";
