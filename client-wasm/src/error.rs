//! The errors this crate returns.

use crate::prelude::*;
use core::fmt;
#[cfg(feature = "socket")]
use tether_protocol::ErrorCode;
#[cfg(feature = "socket")]
use thiserror::Error;

/// Why a message was not sent or queued.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The socket is not open and the send queue is full (or disabled).
    QueueFull {
        /// Messages waiting.
        messages: usize,
        /// Bytes waiting.
        bytes: usize,
    },
    /// The socket was closed by the user, or gave up reconnecting; call `reconnect()` first.
    Closed,
    /// The message could not be encoded as JSON.
    Encode(String),
    /// The browser refused the send.
    Browser(String),
    /// A `history` read of the room is pending: a page does not say which read it answers, so
    /// a room's reads go one at a time.
    HistoryPending,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::QueueFull { messages, bytes } => write!(
                f,
                "send queue is full ({messages} messages, {bytes} bytes waiting)"
            ),
            Self::Closed => f.write_str("socket is closed"),
            Self::Encode(e) => write!(f, "cannot encode message: {e}"),
            Self::Browser(e) => write!(f, "browser refused the send: {e}"),
            Self::HistoryPending => f.write_str("a history read of this room is pending"),
        }
    }
}

impl core::error::Error for SendError {}

/// Why a request got no successful ack.
#[cfg(feature = "socket")]
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The message could not be sent or queued.
    #[error(transparent)]
    Send(#[from] SendError),
    /// No ack arrived in time.
    #[error("no ack within {0:?}")]
    Timeout(core::time::Duration),
    /// The socket closed (or was dropped) before the ack arrived.
    #[error("socket closed before the ack")]
    Closed,
    /// The server refused the request.
    #[error("server refused the request: {message}")]
    Refused {
        /// For programs, when the server gave one.
        code: Option<ErrorCode>,
        /// For people.
        message: String,
    },
    /// The server's answer was not what the request expects.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

/// Why the socket could not be created.
#[cfg(feature = "socket")]
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL is neither absolute (`ws:`, `wss:`, `http:`, `https:`) nor relative to a page.
    #[error("invalid WebSocket URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

#[cfg(feature = "socket")]
impl ConnectError {
    /// What is wrong, without the URL.
    pub(crate) fn into_reason(self) -> String {
        match self {
            Self::InvalidUrl { reason, .. } => reason,
        }
    }
}
