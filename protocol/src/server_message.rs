//! What the server sends.

use crate::{ErrorCode, RequestId};
use serde::{Deserialize, Serialize};

/// A message from the server to a client.
///
/// On the wire: `{"type": <name>, "payload": {...}}`. `connected`, `joined`, `user:joined`,
/// `user:left`, `message`, `typing` and `error` are the guide's, with exactly its fields; Tether
/// only adds optional fields to them (`name`, `code`), which clients written for the guide ignore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload")]
#[non_exhaustive]
pub enum ServerMessage {
    /// `connected {clientId}`: the first message on every connection.
    #[serde(rename = "connected")]
    Connected(Connected),
    /// `joined {roomId, members}`: this client is now in the room.
    #[serde(rename = "joined")]
    Joined(Joined),
    /// `user:joined {userId, roomId}`: another client joined a room this client is in.
    #[serde(rename = "user:joined")]
    UserJoined(UserEvent),
    /// `user:left {userId, roomId}`: another client left a room this client is in, or
    /// disconnected.
    #[serde(rename = "user:left")]
    UserLeft(UserEvent),
    /// `message {from, roomId, text, timestamp}`: another member's text.
    #[serde(rename = "message")]
    Message(ChatMessage),
    /// `typing {userId, roomId}`: another member is typing.
    #[serde(rename = "typing")]
    Typing(Typing),
    /// `error {message}`: the server refused a message that carried no request id.
    #[serde(rename = "error")]
    Error(ErrorPayload),
    /// `ack {id, ok}`: the server handled (or refused) the request with this id.
    #[serde(rename = "ack")]
    Ack(Ack),
    /// `private:message {from, to, text, timestamp}`: a text sent to this client alone.
    #[serde(rename = "private:message")]
    Private(PrivateMessage),
    /// `presence {roomId, members}`: the member list of a room, in answer to `presence`.
    #[serde(rename = "presence")]
    Presence(Presence),
    /// `history {roomId, epoch, messages, more}`: a page of a room's older messages, in answer
    /// to `history`.
    #[serde(rename = "history")]
    History(History),
    /// `pong`: the answer to an app-level `ping`.
    #[serde(rename = "pong")]
    Pong,
}

/// `{clientId, resumeToken?}`: the payload of `connected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connected {
    /// This connection's client id (a UUID), as others see it in `from` and `userId`.
    pub client_id: String,
    /// Present this on the next connection (`/ws?resume=<token>`) to keep the same client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_token: Option<String>,
    /// With auth on: the user this connection's token names (its `sub`), which others see in
    /// `from` and `userId` instead of the client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// With auth on: the name the token gives, if any (`identify` cannot change it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `{roomId, members, epoch?, seq?, recovered?, reason?}`: the payload of `joined`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Joined {
    /// The room joined.
    pub room_id: String,
    /// How many members the room has now, this client included.
    pub members: usize,
    /// The room's history epoch (with a server that keeps history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
    /// The `seq` of the room's latest message at the join (0 for none): live messages follow it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// For a join with `since`: whether every message after it follows (true), or none does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<bool>,
    /// Why the messages missed could not be sent: `epoch_changed`, `too_old`, `too_many`,
    /// `unavailable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Joined {
    /// A `joined` without history fields, as the guide's server sent it.
    pub fn new(room_id: impl Into<String>, members: usize) -> Self {
        Self {
            room_id: room_id.into(),
            members,
            epoch: None,
            seq: None,
            recovered: None,
            reason: None,
        }
    }
}

/// `{userId, roomId, name?}`: the payload of `user:joined` and `user:left`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserEvent {
    /// The client that joined or left.
    pub user_id: String,
    /// The room.
    pub room_id: String,
    /// Its display name, if it sent `identify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `{from, roomId, text, timestamp, name?}`: the payload of a server's `message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    /// The sender's client id.
    pub from: String,
    /// The room it was sent to.
    pub room_id: String,
    /// The text.
    pub text: String,
    /// When the server received it, in milliseconds since the Unix epoch (JavaScript's
    /// `Date.now()`).
    pub timestamp: u64,
    /// The sender's display name, if it sent `identify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its position in the room's history: counts up from 1 with no gaps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// `{roomId, epoch, messages, more}`: the payload of a server's `history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct History {
    /// The room.
    pub room_id: String,
    /// The room's history epoch.
    pub epoch: String,
    /// The messages, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Whether older messages remain.
    pub more: bool,
}

/// `{userId, roomId, name?}`: the payload of a server's `typing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Typing {
    /// The client that is typing.
    pub user_id: String,
    /// The room it is typing in.
    pub room_id: String,
    /// Its display name, if it sent `identify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `{message, code?, retryAfterMs?}`: the payload of `error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorPayload {
    /// What went wrong, for people.
    pub message: String,
    /// What went wrong, for programs. The guide's server sent none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ErrorCode>,
    /// With `rate_limited`: how long to wait before sending again, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

/// `{id, ok, error?, code?, retryAfterMs?}`: the payload of `ack`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ack {
    /// The id of the request this answers.
    pub id: RequestId,
    /// Whether the server carried the request out.
    pub ok: bool,
    /// Why not, for people, when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why not, for programs, when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ErrorCode>,
    /// With `rate_limited`: how long to wait before sending again, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// For a stored `message`: its `seq` in the room's history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// For a stored `message`: the room's history epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
    /// For a `message` whose `cid` was already stored: true, and `seq` is the original's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

impl Ack {
    /// A successful ack.
    pub fn ok(id: RequestId) -> Self {
        Self {
            id,
            ok: true,
            error: None,
            code: None,
            retry_after_ms: None,
            seq: None,
            epoch: None,
            duplicate: false,
        }
    }

    /// A failed ack.
    pub fn failed(id: RequestId, code: ErrorCode, error: impl Into<String>) -> Self {
        Self {
            id,
            ok: false,
            error: Some(error.into()),
            code: Some(code),
            retry_after_ms: None,
            seq: None,
            epoch: None,
            duplicate: false,
        }
    }
}

/// `{from, to, text, timestamp, name?}`: the payload of a server's `private:message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateMessage {
    /// The sender's client id.
    pub from: String,
    /// The recipient's client id (this client's).
    pub to: String,
    /// The text.
    pub text: String,
    /// When the server received it, in milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// The sender's display name, if it sent `identify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// With auth on: the sender's user id (`from` stays its client id, to reply to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// `{roomId, members, total?}`: the payload of a server's `presence`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Presence {
    /// The room.
    pub room_id: String,
    /// Everyone in it, the asking client included, in no particular order; in a room larger
    /// than the server lists, as many as it lists.
    pub members: Vec<Member>,
    /// How many members the room has, sent only when `members` lists fewer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<usize>,
}

/// `{userId, name?}`: one entry of a [`Presence`] list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// The member's client id.
    pub user_id: String,
    /// Its display name, if it sent `identify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}
