//! `decode`: server text → [`ServerMessage`], for the message types the chat shows.

use tether_client::{
    JsonValue,
    protocol::{
        ChatMessage, Connected, ErrorCode, ErrorPayload, Joined, Member, Presence, ServerMessage,
        Typing, UserEvent,
    },
};

/// Decodes a server message the chat uses: `connected`, `joined`, `user:joined`, `user:left`,
/// `message`, `typing`, `presence` and `error`. Anything else, unknown types included, is `None`
/// (acks are resolved inside tether-client), and so is a message missing a field the chat needs.
/// [`decode_connection`] and [`decode_room`] are its two halves, for the app's two modules (and
/// [`decode_identity`] the token's part of `connected`).
///
/// Why not `serde_json::from_str::<ServerMessage>`: the browser has parsed JSON all along, and
/// serde_json's deserializer with a generated decoder per payload costs about 30 KB of the .wasm
/// (12 KB gzipped); reading fields from what `JSON.parse` made costs a few calls per field.
///
/// ```no_run
/// use tether_app::decode::decode;
/// use tether_client::protocol::ServerMessage;
///
/// let message = decode(r#"{"type":"joined","payload":{"roomId":"lobby","members":2}}"#);
/// assert!(matches!(message, Some(ServerMessage::Joined(j)) if j.members == 2));
/// assert!(decode(r#"{"type":"dance","payload":{}}"#).is_none());
/// ```
pub fn decode(text: &str) -> Option<ServerMessage> {
    let message = JsonValue::parse(text)?;
    let mut decoded = decode_connection(&message).or_else(|| decode_room(&message))?;
    if let ServerMessage::Connected(connected) = &mut decoded
        && let Some((user, name)) = decode_identity(&message)
    {
        connected.user_id = Some(user);
        connected.name = name;
    }
    Some(decoded)
}

/// With token auth, who `connected` says this client is: the token's user (`userId`) and the
/// name it gives (`name`); `None` for any other message, and for `connected` without auth. Read
/// by the chat screen's module, which signs in, rather than on the first page.
pub fn decode_identity(message: &JsonValue) -> Option<(String, Option<String>)> {
    if message.string("type")? != "connected" {
        return None;
    }
    let p = message.get("payload")?;
    Some((p.string("userId")?, p.string("name")))
}

/// Decodes the messages about the connection itself, `connected` and `error`, from what
/// `JSON.parse` made; anything else is `None`. The first page needs only these: the room
/// messages ([`decode_room`]) are read by the chat screen's module, which keeps their decoding
/// out of the first load.
pub fn decode_connection(message: &JsonValue) -> Option<ServerMessage> {
    let kind = message.string("type")?;
    let p = message.get("payload")?;
    Some(match kind.as_str() {
        "connected" => ServerMessage::Connected(Connected {
            client_id: p.string("clientId")?,
            resume_token: p.string("resumeToken"),
            // Read by the chat screen's module (`decode_identity`): the first page does not
            // need them, and pays for every byte.
            user_id: None,
            name: None,
        }),
        "error" => ServerMessage::Error(ErrorPayload {
            message: p.string("message")?,
            code: p.string("code").map(|code| ErrorCode::from_name(&code)),
            retry_after_ms: p.get("retryAfterMs").and_then(|n| n.as_u64()),
        }),
        _ => return None,
    })
}

/// Decodes the messages about rooms the chat uses, `joined`, `user:joined`, `user:left`,
/// `message`, `typing` and `presence`, from what `JSON.parse` made; anything else is `None`.
pub fn decode_room(message: &JsonValue) -> Option<ServerMessage> {
    let kind = message.string("type")?;
    let p = message.get("payload")?;
    Some(match kind.as_str() {
        // `recovered` is not read: tether-client resumes rooms and reports a room it could not
        // recover as an event.
        "joined" => {
            let mut joined = Joined::new(
                p.string("roomId")?,
                usize::try_from(p.get("members")?.as_u64()?).ok()?,
            );
            joined.epoch = p.string("epoch");
            joined.seq = p.get("seq").and_then(|n| n.as_u64());
            ServerMessage::Joined(joined)
        }
        "user:joined" => ServerMessage::UserJoined(user_event(&p)?),
        "user:left" => ServerMessage::UserLeft(user_event(&p)?),
        "message" => ServerMessage::Message(ChatMessage {
            from: p.string("from")?,
            room_id: p.string("roomId")?,
            text: p.string("text")?,
            timestamp: p.get("timestamp")?.as_u64()?,
            name: p.string("name"),
            seq: p.get("seq").and_then(|n| n.as_u64()),
        }),
        "typing" => ServerMessage::Typing(Typing {
            user_id: p.string("userId")?,
            room_id: p.string("roomId")?,
            name: p.string("name"),
        }),
        "presence" => ServerMessage::Presence(Presence {
            room_id: p.string("roomId")?,
            members: p
                .get("members")?
                .items()?
                .map(|member| {
                    Some(Member {
                        user_id: member.string("userId")?,
                        name: member.string("name"),
                    })
                })
                .collect::<Option<_>>()?,
            total: p.get("total").and_then(|n| n.as_u64()).map(|n| n as usize),
        }),
        _ => return None,
    })
}

fn user_event(payload: &JsonValue) -> Option<UserEvent> {
    Some(UserEvent {
        user_id: payload.string("userId")?,
        room_id: payload.string("roomId")?,
        name: payload.string("name"),
    })
}
