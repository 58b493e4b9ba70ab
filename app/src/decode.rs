//! `decode`: server text → [`ServerMessage`], for the message types the chat shows.

use serde::{Deserialize, de::DeserializeOwned};
use std::borrow::Cow;
use tether_client::protocol::ServerMessage;

/// Decodes a server message the chat uses: `connected`, `joined`, `user:joined`, `user:left`,
/// `message`, `typing`, `presence` and `error`. Anything else, unknown types included, is `None`
/// (acks are resolved inside tether-client).
///
/// Why not `serde_json::from_str::<ServerMessage>`: its adjacently tagged enum buffers every
/// payload through serde's generic `Content` before decoding it, and that machinery costs about
/// 15 KB of gzipped .wasm. Reading the `type` first and then the one payload struct it names
/// costs a second pass over a short text and a fraction of the code.
///
/// ```
/// use tether_app::decode::decode;
/// use tether_client::protocol::ServerMessage;
///
/// let message = decode(r#"{"type":"joined","payload":{"roomId":"lobby","members":2}}"#);
/// assert!(matches!(message, Some(ServerMessage::Joined(j)) if j.members == 2));
/// assert!(decode(r#"{"type":"dance","payload":{}}"#).is_none());
/// ```
pub fn decode(text: &str) -> Option<ServerMessage> {
    #[derive(Deserialize)]
    struct Kind<'a> {
        #[serde(rename = "type", borrow)]
        kind: Cow<'a, str>,
    }
    let Kind { kind } = serde_json::from_str(text).ok()?;
    Some(match kind.as_ref() {
        "connected" => ServerMessage::Connected(payload(text)?),
        "joined" => ServerMessage::Joined(payload(text)?),
        "user:joined" => ServerMessage::UserJoined(payload(text)?),
        "user:left" => ServerMessage::UserLeft(payload(text)?),
        "message" => ServerMessage::Message(payload(text)?),
        "typing" => ServerMessage::Typing(payload(text)?),
        "presence" => ServerMessage::Presence(payload(text)?),
        "error" => ServerMessage::Error(payload(text)?),
        _ => return None,
    })
}

fn payload<P: DeserializeOwned>(text: &str) -> Option<P> {
    #[derive(Deserialize)]
    struct Envelope<P> {
        payload: P,
    }
    serde_json::from_str::<Envelope<P>>(text)
        .ok()
        .map(|envelope| envelope.payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_client::protocol::{
        ChatMessage, Connected, ErrorPayload, Joined, Member, Presence, Typing, UserEvent,
    };

    /// Every type the chat uses decodes to what `ServerMessage`'s own serde impl makes of it.
    #[test]
    fn agrees_with_the_protocol_types() {
        let messages = [
            ServerMessage::Connected(Connected {
                client_id: "5b1f".into(),
            }),
            ServerMessage::Joined(Joined {
                room_id: "lobby".into(),
                members: 2,
            }),
            ServerMessage::UserJoined(UserEvent {
                user_id: "9d2c".into(),
                room_id: "lobby".into(),
                name: Some("Bob".into()),
            }),
            ServerMessage::UserLeft(UserEvent {
                user_id: "9d2c".into(),
                room_id: "lobby".into(),
                name: None,
            }),
            ServerMessage::Message(ChatMessage {
                from: "5b1f".into(),
                room_id: "lobby".into(),
                text: "<img src=x onerror=alert(1)> \"quoted\" \\ é".into(),
                timestamp: 1_795_491_640_941,
                name: Some("Alice".into()),
            }),
            ServerMessage::Typing(Typing {
                user_id: "5b1f".into(),
                room_id: "lobby".into(),
                name: None,
            }),
            ServerMessage::Presence(Presence {
                room_id: "lobby".into(),
                members: vec![Member {
                    user_id: "5b1f".into(),
                    name: Some("Alice".into()),
                }],
            }),
            ServerMessage::Error(ErrorPayload {
                message: "not in room \"lobby\"".into(),
                code: None,
            }),
        ];
        for message in messages {
            let text = serde_json::to_string(&message).expect("serializes");
            assert_eq!(decode(&text), Some(message), "{text}");
        }
    }

    #[test]
    fn ignores_unknown_fields_and_the_order_of_keys() {
        let text = r#"{"payload":{"roomId":"a","members":1,"seq":7},"extra":true,"type":"joined"}"#;
        assert!(matches!(decode(text), Some(ServerMessage::Joined(j)) if j.room_id == "a"));
    }

    #[test]
    fn skips_acks_pongs_unknown_types_and_garbage() {
        for text in [
            r#"{"type":"ack","payload":{"id":1,"ok":true}}"#,
            r#"{"type":"pong"}"#,
            r#"{"type":"resume","payload":{}}"#,
            r#"{"type":"joined","payload":{"roomId":1}}"#,
            "not json",
            "pong",
        ] {
            assert_eq!(decode(text), None, "{text}");
        }
    }
}
