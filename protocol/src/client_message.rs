//! What a client sends.

use crate::RequestId;
use serde::{Deserialize, Serialize};

/// A message from a client to the server.
///
/// On the wire: `{"type": <name>, "payload": {...}}`. The first four are the guide's; the rest are
/// Tether's additions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload")]
#[non_exhaustive]
pub enum ClientMessage {
    /// `join {roomId, since?, recent?}`: enter a room, creating it if it does not exist.
    /// Answered by `joined`, then by the messages missed since `since`, or the `recent` latest.
    #[serde(rename = "join")]
    #[serde(deserialize_with = "crate::object_only::object")]
    Join(JoinRoom),
    /// `leave {roomId}`: leave a room; the others get `user:left`.
    #[serde(rename = "leave")]
    #[serde(deserialize_with = "crate::object_only::object")]
    Leave(RoomRef),
    /// `message {roomId, text}`: send a text to every other member of a room.
    #[serde(rename = "message")]
    #[serde(deserialize_with = "crate::object_only::object")]
    Message(SendText),
    /// `typing {roomId}`: tell the room's other members that this client is typing.
    #[serde(rename = "typing")]
    #[serde(deserialize_with = "crate::object_only::object")]
    Typing(RoomRef),
    /// `private:message {to, text}`: send a text to one client, by its client id.
    #[serde(rename = "private:message")]
    #[serde(deserialize_with = "crate::object_only::object")]
    Private(PrivateSend),
    /// `presence {roomId}`: ask for the room's member list. Answered by `presence`.
    #[serde(rename = "presence")]
    #[serde(deserialize_with = "crate::object_only::object")]
    Presence(RoomRef),
    /// `identify {name}`: set the display name the server attaches to this client's events.
    #[serde(rename = "identify")]
    #[serde(deserialize_with = "crate::object_only::object")]
    Identify(Identify),
    /// `history {roomId, before?, limit?}`: ask for a page of a room's older messages.
    /// Answered by `history`.
    #[serde(rename = "history")]
    #[serde(deserialize_with = "crate::object_only::object")]
    History(HistoryRequest),
    /// `ping`: an app-level heartbeat. Answered by `pong`.
    #[serde(rename = "ping")]
    Ping,
    /// `refresh {token}`: a fresh token for this connection (same user), before the current one
    /// expires; with auth on, a connection whose token expires is closed with 4419 otherwise.
    #[serde(rename = "refresh")]
    #[serde(deserialize_with = "crate::object_only::object")]
    Refresh(Refresh),
}

impl ClientMessage {
    /// The names of every message type a client may send, as they appear in `type`.
    pub const TYPES: &'static [&'static str] = &[
        "join",
        "leave",
        "message",
        "typing",
        "private:message",
        "presence",
        "identify",
        "history",
        "ping",
        "refresh",
    ];

    /// The name of this message's type, as it appears in `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Join(_) => "join",
            Self::Leave(_) => "leave",
            Self::Message(_) => "message",
            Self::Typing(_) => "typing",
            Self::Private(_) => "private:message",
            Self::Presence(_) => "presence",
            Self::Identify(_) => "identify",
            Self::History(_) => "history",
            Self::Ping => "ping",
            Self::Refresh(_) => "refresh",
        }
    }
}

/// A client message together with its optional request id:
/// `{"type": ..., "payload": ..., "id": ...}`.
///
/// With an id, the server answers with an `ack` carrying the same id once it has handled the
/// message (`ok: true`), or refused it (`ok: false` with the reason, instead of an `error`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientFrame {
    /// The message.
    #[serde(flatten)]
    pub message: ClientMessage,
    /// The request id, if the sender wants an ack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<RequestId>,
}

impl ClientFrame {
    /// A frame without a request id.
    pub fn new(message: ClientMessage) -> Self {
        Self { message, id: None }
    }

    /// Asks for an ack with this id.
    pub fn with_id(mut self, id: impl Into<RequestId>) -> Self {
        self.id = Some(id.into());
        self
    }
}

impl From<ClientMessage> for ClientFrame {
    fn from(message: ClientMessage) -> Self {
        Self::new(message)
    }
}

/// `{token}`: the payload of `refresh`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "an object {token}")]
pub struct Refresh {
    /// The new token (a JWT).
    pub token: String,
}

/// `{roomId}`: the payload of `leave`, `typing` and `presence`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "an object {roomId}")]
pub struct RoomRef {
    /// The room's id: any non-empty string up to the server's limit (128 bytes by default).
    pub room_id: String,
}

impl RoomRef {
    /// A reference to the room with this id.
    pub fn new(room_id: impl Into<String>) -> Self {
        Self {
            room_id: room_id.into(),
        }
    }
}

/// `{roomId, since?, recent?}`: the payload of `join`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "an object {roomId}")]
pub struct JoinRoom {
    /// The room's id: any non-empty string up to the server's limit (128 bytes by default).
    pub room_id: String,
    /// Where the client left off (the position of the last message it has from this room): the
    /// server sends every message after it, then live ones, or says it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Position>,
    /// For a fresh join: how many of the room's latest messages to send first (at most 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent: Option<u32>,
}

impl JoinRoom {
    /// A plain join of the room with this id.
    pub fn new(room_id: impl Into<String>) -> Self {
        Self {
            room_id: room_id.into(),
            since: None,
            recent: None,
        }
    }
}

/// `{epoch, seq}`: a position in a room's history: after the message `seq` of the room's history
/// `epoch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(expecting = "an object {epoch, seq}")]
pub struct Position {
    /// The room's epoch: changes only when the server has lost the room's history.
    pub epoch: String,
    /// A message's `seq` (0: before the first message).
    pub seq: u64,
}

/// `{roomId, text, cid?}`: the payload of a client's `message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "an object {roomId, text}")]
pub struct SendText {
    /// The room to send to; the sender must have joined it.
    pub room_id: String,
    /// The text: non-empty, up to the server's limit (8 KiB by default).
    pub text: String,
    /// A client-chosen id for this message (at most 64 bytes): the server keeps a message with a
    /// `cid` once, however often it is sent again within the dedupe window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
}

impl SendText {
    /// A text for a room, without a `cid`.
    pub fn new(room_id: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            room_id: room_id.into(),
            text: text.into(),
            cid: None,
        }
    }
}

/// `{roomId, before?, limit?}`: the payload of a client's `history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "an object {roomId}")]
pub struct HistoryRequest {
    /// The room; the client must have joined it.
    pub room_id: String,
    /// Only messages with a `seq` below this (absent: the latest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
    /// How many at most (absent or above 100: 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// `{to, text}`: the payload of a client's `private:message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(expecting = "an object {to, text}")]
pub struct PrivateSend {
    /// The recipient's client id, as it got it in `connected`.
    pub to: String,
    /// The text: non-empty, up to the server's limit.
    pub text: String,
}

/// `{name}`: the payload of `identify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(expecting = "an object {name}")]
pub struct Identify {
    /// The display name: not blank, up to the server's limit (64 bytes by default), no control
    /// characters.
    pub name: String,
}
