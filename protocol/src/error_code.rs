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
    /// A code this version of the crate does not know (sent by a newer server).
    #[serde(other)]
    Unknown,
}
