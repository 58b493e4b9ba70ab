//! What a socket tells its listeners.

use crate::ConnectionState;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Something that happened to a [`Socket`](crate::Socket).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SocketEvent {
    /// A connection opened. `reconnected` is true for every open after the first.
    Open {
        /// Whether an earlier connection of this socket was open before.
        reconnected: bool,
    },
    /// A message arrived (heartbeat answers are not delivered; acks are, after resolving their
    /// request).
    Message(Incoming),
    /// The browser reported an error on the connection (a close always follows).
    Error,
    /// A connection closed.
    Close(CloseInfo),
    /// A reconnect is scheduled.
    Reconnecting {
        /// 1 for the first attempt after a close, 2 for the next, ...
        attempt: u32,
        /// The delay before it, jitter included.
        delay: Duration,
    },
    /// The heartbeat got no answer in time; the connection is being dropped.
    HeartbeatTimeout,
    /// The reconnect attempts ran out; the socket stays closed until `reconnect()`.
    GaveUp,
    /// The connection state changed.
    State(ConnectionState),
    /// After a reconnect, the server could not send what this room missed (its history was
    /// lost, the gap is older than it keeps, or too long): messages sent meanwhile will not
    /// arrive. The room goes on from the server's current position; an app can say so, and
    /// page back with [`Socket::history`](crate::Socket::history).
    RoomNotRecovered {
        /// The room.
        room: String,
        /// The server's reason: `epoch_changed`, `too_old`, `too_many` or `unavailable`.
        reason: String,
    },
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
}

impl Incoming {
    /// The text, if it is a text frame.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text),
            Self::Binary(_) => None,
        }
    }

    /// Decodes a text frame as JSON into `T` (a `tether_protocol::ServerMessage`, or any serde type).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        match self {
            Self::Text(text) => serde_json::from_str(text),
            Self::Binary(bytes) => serde_json::from_slice(bytes),
        }
    }
}

/// How a connection closed, from the browser's `CloseEvent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// The close code (1006 when the connection dropped without a close frame).
    pub code: u16,
    /// The reason the peer gave.
    pub reason: String,
    /// Whether the closing handshake completed.
    pub was_clean: bool,
}
