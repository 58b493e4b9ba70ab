//! The two wire protocols the generator speaks, encoded and recognised cheaply.

use memchr::memmem;
use serde::Deserialize;
use std::sync::LazyLock;

/// How a server frames the chat protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    /// The guide's `{"type", "payload"}` JSON: Tether's server and the guide's Node `ws` server.
    Guide,
    /// Socket.IO 4 over Engine.IO v4 (WebSocket transport): `42["event",{...}]` packets, the
    /// server's `2` pings answered with `3`.
    SocketIo,
}

/// What a text frame from the server is, as far as the scenarios care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// The server's greeting: `connected` (guide) or the namespace's `40` (Socket.IO).
    Connected,
    /// Engine.IO's `0{...}` open packet, which comes before `40`.
    Open,
    /// `joined`, with the room's size, the joiner included.
    Joined {
        /// The room's size.
        members: usize,
    },
    /// Another member joined a room.
    UserJoined,
    /// A chat message, with its text.
    Message {
        /// The message's `text` field, as sent.
        text: &'a str,
    },
    /// An Engine.IO ping, to be answered with a pong.
    Ping,
    /// The server refused something (`error`, or Socket.IO's `44` connect error).
    Error,
    /// Anything else (`user:left`, `typing`, ...).
    Other,
}

#[derive(Deserialize)]
struct JoinedPayload {
    members: usize,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
}

#[derive(Deserialize)]
struct JoinedEnvelope {
    payload: JoinedPayload,
}

impl Dialect {
    /// The frame that joins `room`.
    pub fn join(self, room: &str) -> String {
        let room = json_string(room);
        match self {
            Self::Guide => format!(r#"{{"type":"join","payload":{{"roomId":{room}}}}}"#),
            Self::SocketIo => format!(r#"42["join",{{"roomId":{room}}}]"#),
        }
    }

    /// The frame that sends `text` to `room`. `text` must need no JSON escaping (the generator's
    /// texts are ASCII letters, digits and colons), which keeps this off the serializer.
    pub fn message(self, room: &str, text: &str) -> String {
        debug_assert!(!text.contains(['"', '\\']), "texts are never escaped");
        let room = json_string(room);
        match self {
            Self::Guide => {
                format!(r#"{{"type":"message","payload":{{"roomId":{room},"text":"{text}"}}}}"#)
            }
            Self::SocketIo => format!(r#"42["message",{{"roomId":{room},"text":"{text}"}}]"#),
        }
    }

    /// The Socket.IO packet that connects to the default namespace, sent after Engine.IO's open.
    pub const SOCKET_IO_CONNECT: &'static str = "40";

    /// The Engine.IO pong, the answer to the server's `2`.
    pub const ENGINE_IO_PONG: &'static str = "3";

    /// Recognises a text frame. Chat messages, the bulk of a fan-out, are found with two substring
    /// searches and no allocation; rarer frames get a real JSON parse.
    pub fn parse(self, text: &str) -> Incoming<'_> {
        match self {
            Self::Guide => parse_guide(text),
            Self::SocketIo => parse_socket_io(text),
        }
    }
}

fn parse_guide(text: &str) -> Incoming<'_> {
    // Both servers write `type` first; anything else gets the full parse.
    let kind = match text.strip_prefix(r#"{"type":""#) {
        // The bulk of a fan-out, recognised without looking for the type's end.
        Some(rest) if rest.starts_with(r#"message""#) => "message",
        Some(rest) => rest.split('"').next().unwrap_or(""),
        None => match serde_json::from_str::<Envelope<'_>>(text) {
            Ok(envelope) => envelope.kind,
            Err(_) => return Incoming::Other,
        },
    };
    match kind {
        "message" => text_field(text).map_or(Incoming::Other, |text| Incoming::Message { text }),
        "user:joined" => Incoming::UserJoined,
        "connected" => Incoming::Connected,
        "joined" => {
            serde_json::from_str::<JoinedEnvelope>(text).map_or(Incoming::Other, |joined| {
                Incoming::Joined {
                    members: joined.payload.members,
                }
            })
        }
        "error" => Incoming::Error,
        _ => Incoming::Other,
    }
}

fn parse_socket_io(text: &str) -> Incoming<'_> {
    if let Some(event) = text.strip_prefix(r#"42[""#) {
        let name = if event.starts_with(r#"message""#) {
            "message"
        } else {
            event.split('"').next().unwrap_or("")
        };
        return match name {
            "message" => {
                text_field(text).map_or(Incoming::Other, |text| Incoming::Message { text })
            }
            "user:joined" => Incoming::UserJoined,
            "joined" => serde_json::from_str::<(&str, JoinedPayload)>(&text[2..]).map_or(
                Incoming::Other,
                |(_, joined)| Incoming::Joined {
                    members: joined.members,
                },
            ),
            _ => Incoming::Other,
        };
    }
    match text.as_bytes() {
        [b'2'] => Incoming::Ping,
        [b'0', b'{', ..] => Incoming::Open,
        [b'4', b'0', ..] => Incoming::Connected,
        [b'4', b'4', ..] => Incoming::Error,
        _ => Incoming::Other,
    }
}

/// The value of the first `"text":"..."` in `json`, up to the next quote: memchr's vectorised
/// search, with the key's searcher built once, as this runs for every delivery.
fn text_field(json: &str) -> Option<&str> {
    const KEY: &str = r#""text":""#;
    static FINDER: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(KEY.as_bytes()));
    let start = FINDER.find(json.as_bytes())? + KEY.len();
    let len = memchr::memchr(b'"', &json.as_bytes()[start..])?;
    // Both ends are ASCII quotes, so the slice is on character boundaries.
    json.get(start..start + len)
}

fn json_string(value: &str) -> String {
    // A `&str` always serializes.
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_guides_frames_as_tether_and_node_write_them() {
        let guide = Dialect::Guide;
        assert_eq!(
            guide.parse(r#"{"type":"connected","payload":{"clientId":"c1"}}"#),
            Incoming::Connected
        );
        assert_eq!(
            guide.parse(r#"{"type":"joined","payload":{"roomId":"r","members":42}}"#),
            Incoming::Joined { members: 42 }
        );
        assert_eq!(
            guide.parse(r#"{"type":"user:joined","payload":{"userId":"u","roomId":"r"}}"#),
            Incoming::UserJoined
        );
        assert_eq!(
            guide.parse(
                r#"{"type":"message","payload":{"from":"u","roomId":"r","text":"b1:2:3","timestamp":1}}"#
            ),
            Incoming::Message { text: "b1:2:3" }
        );
        assert_eq!(
            guide.parse(r#"{"payload":{"message":"no"},"type":"error"}"#),
            Incoming::Error
        );
        assert_eq!(guide.parse("pong"), Incoming::Other);
    }

    #[test]
    fn recognises_engine_io_and_socket_io_packets() {
        let sio = Dialect::SocketIo;
        assert_eq!(
            sio.parse(r#"0{"sid":"s","upgrades":[],"pingInterval":25000}"#),
            Incoming::Open
        );
        assert_eq!(sio.parse(r#"40{"sid":"x"}"#), Incoming::Connected);
        assert_eq!(sio.parse("2"), Incoming::Ping);
        assert_eq!(
            sio.parse(r#"42["joined",{"roomId":"r","members":7}]"#),
            Incoming::Joined { members: 7 }
        );
        assert_eq!(
            sio.parse(r#"42["message",{"from":"a","roomId":"r","text":"b0:1:9","timestamp":5}]"#),
            Incoming::Message { text: "b0:1:9" }
        );
        assert_eq!(sio.parse(r#"44{"message":"nope"}"#), Incoming::Error);
    }

    #[test]
    fn encodes_join_and_message_with_the_room_escaped() {
        assert_eq!(
            Dialect::Guide.join("a\"b"),
            r#"{"type":"join","payload":{"roomId":"a\"b"}}"#
        );
        assert_eq!(
            Dialect::SocketIo.message("r", "b1:2:3"),
            r#"42["message",{"roomId":"r","text":"b1:2:3"}]"#
        );
        let frame = Dialect::Guide.message("r", "t");
        let value: serde_json::Value = serde_json::from_str(&frame).expect("valid JSON");
        assert_eq!(value["payload"]["text"], "t");
    }
}
