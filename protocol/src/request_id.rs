//! The optional id that turns a client message into a request.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The id of a request: any client message that carries `"id"` next to `type` and `payload` is
/// answered by an [`Ack`](crate::Ack) with the same id once the server has handled it.
///
/// Numbers (as Socket.IO's acks use) and strings (for clients that prefer UUIDs) are both
/// accepted, and the ack echoes the id back in the form it came.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    /// A non-negative integer id.
    Number(u64),
    /// A string id.
    Text(String),
}

impl From<u64> for RequestId {
    fn from(id: u64) -> Self {
        Self::Number(id)
    }
}

impl From<String> for RequestId {
    fn from(id: String) -> Self {
        Self::Text(id)
    }
}

impl From<&str> for RequestId {
    fn from(id: &str) -> Self {
        Self::Text(id.to_owned())
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Text(s) => write!(f, "{s:?}"),
        }
    }
}
