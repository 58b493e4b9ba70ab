//! Why the server refused a client's message.

use tether_protocol::ErrorCode;
use thiserror::Error;

/// A refused message: sent back as an `error`, or as a failed `ack` when the message carried an
/// id. The connection stays open.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct Refusal {
    /// For programs.
    pub code: ErrorCode,
    /// For people.
    pub message: String,
}

impl Refusal {
    /// A refusal with this code and text.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// At most `max` bytes of `s`, cut on a character boundary, so a refusal never echoes a huge input.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
