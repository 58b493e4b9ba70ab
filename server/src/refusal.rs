//! Why the server refused a client's message.

use std::time::Duration;
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
    /// For a client over its rate: when it may send again.
    pub retry_after: Option<Duration>,
}

impl Refusal {
    /// A refusal with this code and text.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A refusal for sending faster than allowed; the client may try again after `wait`.
    pub fn rate_limited(what: &str, wait: Duration) -> Self {
        // Rounded up: a client that waits what it was told must find room.
        let millis = (wait.as_nanos().div_ceil(1_000_000) as u64).max(1);
        Self {
            code: ErrorCode::RateLimited,
            message: format!("too many {what}: wait {millis} ms"),
            retry_after: Some(Duration::from_millis(millis)),
        }
    }

    /// `retry_after` in whole milliseconds, as sent in `retryAfterMs`.
    pub fn retry_after_ms(&self) -> Option<u64> {
        self.retry_after.map(|wait| wait.as_millis() as u64)
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

/// The refusal for a field over its limit.
pub(crate) fn too_long(what: &str, max: usize) -> Refusal {
    Refusal::new(
        ErrorCode::TooLong,
        format!("{what} is longer than {max} bytes"),
    )
}
