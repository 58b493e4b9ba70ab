//! Machine-readable error codes.

use serde::{Deserialize, Serialize};

/// Why the server refused a message: sent as `code` in an `error` message and in a failed `ack`,
/// next to a human-readable text.
///
/// The guide's own server sent only the text; clients that know only the guide ignore the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The text is not JSON, or not a JSON object.
    InvalidJson,
    /// The `type` is missing or is not one the server knows.
    UnknownType,
    /// The `payload` is missing, or a field of it is missing or of the wrong kind.
    InvalidPayload,
    /// A room id, text or name is longer than the server allows.
    TooLong,
    /// A room id, text or name is empty (or blank, for names).
    Empty,
    /// The client sent to, or left, a room it is not in.
    NotInRoom,
    /// The client is already in as many rooms as the server allows.
    TooManyRooms,
    /// A private message named a client that is not connected.
    NoSuchClient,
    /// The client sent faster than its rate; `retryAfterMs` says when to try again.
    RateLimited,
    /// The server could not store the message (its store failed or is unreachable); nothing was
    /// sent to anyone. Try again later.
    Unavailable,
    /// The client's token does not allow it: a room its token does not list, a name its token
    /// fixes, a `refresh` with another user's token.
    Forbidden,
    /// A `refresh` token that is not valid (a bad signature, the wrong audience, expired).
    InvalidToken,
    /// A code this version of the crate does not know (sent by a newer server).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// Every code this version knows, [`Unknown`](Self::Unknown) last. A new code goes here and
    /// in [`as_str`](Self::as_str) (where the compiler insists), or `from_name` misses it.
    // The test below checks both against serde, code by code.
    pub const ALL: [Self; 13] = [
        Self::InvalidJson,
        Self::UnknownType,
        Self::InvalidPayload,
        Self::TooLong,
        Self::Empty,
        Self::NotInRoom,
        Self::TooManyRooms,
        Self::NoSuchClient,
        Self::RateLimited,
        Self::Unavailable,
        Self::Forbidden,
        Self::InvalidToken,
        Self::Unknown,
    ];

    /// The code as it is sent: `"invalid_json"`, `"not_in_room"`...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::UnknownType => "unknown_type",
            Self::InvalidPayload => "invalid_payload",
            Self::TooLong => "too_long",
            Self::Empty => "empty",
            Self::NotInRoom => "not_in_room",
            Self::TooManyRooms => "too_many_rooms",
            Self::NoSuchClient => "no_such_client",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Forbidden => "forbidden",
            Self::InvalidToken => "invalid_token",
            Self::Unknown => "unknown",
        }
    }

    /// The code sent as `name`, for decoders that do not use serde; a name this version does not
    /// know is [`Unknown`](Self::Unknown), as with serde.
    ///
    /// ```
    /// use tether_protocol::ErrorCode;
    ///
    /// assert_eq!(ErrorCode::from_name("not_in_room"), ErrorCode::NotInRoom);
    /// assert_eq!(ErrorCode::from_name("on_fire"), ErrorCode::Unknown);
    /// ```
    pub fn from_name(name: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|code| code.as_str() == name)
            .unwrap_or(Self::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_agree_with_serde() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).expect("serializes");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(ErrorCode::from_name(code.as_str()), code);
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).ok(), Some(code));
        }
    }
}
