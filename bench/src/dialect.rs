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

    /// The frame that joins `room` and asks for what came after `since` (Tether's resume): the
    /// room's epoch and the last `seq` the client has. Socket.IO has no such join: its recovery
    /// is asked for when connecting ([`socket_io_connect`](Self::socket_io_connect)), and a plain
    /// join is sent when that fails. `id` comes back in the join's ack (Tether), after the replay.
    pub fn join_since(self, room: &str, since: Option<(&str, u64)>, id: u64) -> String {
        match (self, since) {
            (Self::Guide, Some((epoch, seq))) => {
                let (room, epoch) = (json_string(room), json_string(epoch));
                format!(
                    r#"{{"type":"join","payload":{{"roomId":{room},"since":{{"epoch":{epoch},"seq":{seq}}}}},"id":{id}}}"#
                )
            }
            (Self::Guide, None) => {
                let room = json_string(room);
                format!(r#"{{"type":"join","payload":{{"roomId":{room}}},"id":{id}}}"#)
            }
            (Self::SocketIo, _) => self.join(room),
        }
    }

    /// The frame that sends `text` to `room` and asks for an ack with `id`: Tether's `message`
    /// with a `cid` (the server stores it once however often it is sent), Socket.IO's event with
    /// an ack id (`42<id>[...]`, answered `43<id>[...]`; there is no `cid`). `text` and `cid`
    /// need no JSON escaping, as for [`message`](Self::message).
    pub fn message_acked(self, room: &str, text: &str, cid: &str, id: u64) -> String {
        debug_assert!(!text.contains(['"', '\\']) && !cid.contains(['"', '\\']));
        let room = json_string(room);
        match self {
            Self::Guide => format!(
                r#"{{"type":"message","payload":{{"roomId":{room},"text":"{text}","cid":"{cid}"}},"id":{id}}}"#
            ),
            Self::SocketIo => format!(r#"42{id}["message",{{"roomId":{room},"text":"{text}"}}]"#),
        }
    }

    /// Tether's request for the room's latest stored message (`history` with `limit` 1).
    pub fn latest_stored(self, room: &str, id: u64) -> String {
        let room = json_string(room);
        format!(r#"{{"type":"history","payload":{{"roomId":{room},"limit":1}},"id":{id}}}"#)
    }

    /// The Socket.IO packet that connects to the default namespace, sent after Engine.IO's open.
    pub const SOCKET_IO_CONNECT: &'static str = "40";

    /// Socket.IO's connect packet asking for connection-state recovery, as socket.io-client 4
    /// sends it once it has a session: `40{"pid":...,"offset":...}` with the session id the last
    /// `40` gave and the offset of the last event received (the string a recovering server
    /// appends to every broadcast). socket.io-client leaves `offset` out when it has received no
    /// such event, and the server then recovers nothing.
    pub fn socket_io_connect(pid: &str, offset: Option<&str>) -> String {
        let pid = json_string(pid);
        match offset {
            Some(offset) => format!(r#"40{{"pid":{pid},"offset":{}}}"#, json_string(offset)),
            None => format!(r#"40{{"pid":{pid}}}"#),
        }
    }

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

/// A frame as the resume storm reads it: identities, positions, acks and recoveries, for both
/// servers. A full parse of every frame (the scenario's rates are a person's, not a fan-out's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionFrame<'a> {
    /// Engine.IO's open packet.
    Open,
    /// Tether's `connected`, or Socket.IO's `40` connect.
    Connected {
        /// Tether: the client's id.
        client_id: Option<&'a str>,
        /// Tether: the token that gives the id back on the next connection.
        resume_token: Option<&'a str>,
        /// Socket.IO with recovery on: the session id to present when reconnecting.
        pid: Option<&'a str>,
    },
    /// `joined`.
    Joined {
        /// The room's epoch (Tether).
        epoch: Option<&'a str>,
        /// The room's latest `seq` when the client was subscribed (Tether).
        seq: Option<u64>,
        /// Tether, for a join with `since`: whether everything missed follows.
        recovered: Option<bool>,
        /// Why not, when `recovered` is false.
        reason: Option<&'a str>,
    },
    /// A chat message.
    Message {
        /// Its text, as sent.
        text: &'a str,
        /// Its position in the room (Tether).
        seq: Option<u64>,
    },
    /// An ack of a request with a numeric id.
    Ack {
        /// The request's id.
        id: u64,
        /// Whether it was done (Socket.IO's acks always are).
        ok: bool,
        /// Tether: the message's `seq`.
        seq: Option<u64>,
        /// Tether: the room's epoch.
        epoch: Option<&'a str>,
        /// Tether: the message had been stored before (same `cid`); `seq` is the original's.
        duplicate: bool,
    },
    /// Tether's `history` answer: the `seq` of its last message.
    History {
        /// The latest `seq` in the page; none for an empty room.
        last_seq: Option<u64>,
    },
    /// The server refused something.
    Error,
    /// Anything else.
    Other,
}

#[derive(Deserialize)]
struct SessionEnvelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default, borrow)]
    payload: Option<SessionPayload<'a>>,
}

/// Every field the resume storm reads, from any frame; unknown ones are ignored.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionPayload<'a> {
    #[serde(default, borrow)]
    client_id: Option<&'a str>,
    #[serde(default, borrow)]
    resume_token: Option<&'a str>,
    #[serde(default, borrow)]
    epoch: Option<&'a str>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    recovered: Option<bool>,
    #[serde(default, borrow)]
    reason: Option<&'a str>,
    #[serde(default, borrow)]
    text: Option<&'a str>,
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    ok: bool,
    #[serde(default)]
    duplicate: bool,
    #[serde(default)]
    messages: Vec<SeqOnly>,
}

#[derive(Deserialize)]
struct SeqOnly {
    seq: Option<u64>,
}

/// A Socket.IO event: its name, its payload and, from a server with connection-state recovery,
/// the offset it appends to every broadcast.
#[derive(Deserialize)]
struct SocketIoEvent<'a>(
    &'a str,
    #[serde(borrow, default)] SessionPayload<'a>,
    #[serde(borrow, default)] Option<&'a str>,
);

#[derive(Deserialize)]
struct SocketIoConnect<'a> {
    #[serde(default, borrow)]
    pid: Option<&'a str>,
}

impl Dialect {
    /// Reads a frame for the resume storm. With Socket.IO, also returns the event's recovery
    /// offset, if the server appended one: socket.io-client keeps the last as its position.
    pub fn parse_session(self, text: &str) -> (SessionFrame<'_>, Option<&str>) {
        match self {
            Self::Guide => (parse_guide_session(text), None),
            Self::SocketIo => parse_socket_io_session(text),
        }
    }
}

fn parse_guide_session(text: &str) -> SessionFrame<'_> {
    let Ok(envelope) = serde_json::from_str::<SessionEnvelope<'_>>(text) else {
        return SessionFrame::Other;
    };
    let p = envelope.payload.unwrap_or_default();
    match envelope.kind {
        "connected" => SessionFrame::Connected {
            client_id: p.client_id,
            resume_token: p.resume_token,
            pid: None,
        },
        "joined" => SessionFrame::Joined {
            epoch: p.epoch,
            seq: p.seq,
            recovered: p.recovered,
            reason: p.reason,
        },
        "message" => p
            .text
            .map_or(SessionFrame::Other, |text| SessionFrame::Message {
                text,
                seq: p.seq,
            }),
        "ack" => match p.id.as_ref().and_then(serde_json::Value::as_u64) {
            Some(id) => SessionFrame::Ack {
                id,
                ok: p.ok,
                seq: p.seq,
                epoch: p.epoch,
                duplicate: p.duplicate,
            },
            None => SessionFrame::Other,
        },
        "history" => SessionFrame::History {
            last_seq: p.messages.last().and_then(|m| m.seq),
        },
        "error" => SessionFrame::Error,
        _ => SessionFrame::Other,
    }
}

fn parse_socket_io_session(text: &str) -> (SessionFrame<'_>, Option<&str>) {
    if let Some(event) = text.strip_prefix("42") {
        let Ok(SocketIoEvent(name, p, offset)) = serde_json::from_str::<SocketIoEvent<'_>>(event)
        else {
            return (SessionFrame::Other, None);
        };
        let frame = match name {
            "message" => p
                .text
                .map_or(SessionFrame::Other, |text| SessionFrame::Message {
                    text,
                    seq: None,
                }),
            "joined" => SessionFrame::Joined {
                epoch: None,
                seq: None,
                recovered: None,
                reason: None,
            },
            _ => SessionFrame::Other,
        };
        return (frame, offset);
    }
    if let Some(ack) = text.strip_prefix("43") {
        let digits = ack.bytes().take_while(u8::is_ascii_digit).count();
        let frame = ack[..digits]
            .parse()
            .map_or(SessionFrame::Other, |id| SessionFrame::Ack {
                id,
                ok: true,
                seq: None,
                epoch: None,
                duplicate: false,
            });
        return (frame, None);
    }
    if let Some(connect) = text.strip_prefix("40") {
        let pid = serde_json::from_str::<SocketIoConnect<'_>>(connect)
            .ok()
            .and_then(|c| c.pid);
        let frame = SessionFrame::Connected {
            client_id: None,
            resume_token: None,
            pid,
        };
        return (frame, None);
    }
    let frame = match text.as_bytes() {
        [b'0', b'{', ..] => SessionFrame::Open,
        [b'4', b'4', ..] => SessionFrame::Error,
        _ => SessionFrame::Other,
    };
    (frame, None)
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

    #[test]
    fn reads_tethers_positions_acks_and_recoveries() {
        let guide = Dialect::Guide;
        let parse = |text| guide.parse_session(text).0;
        assert_eq!(
            parse(r#"{"type":"connected","payload":{"clientId":"c1","resumeToken":"t-_1"}}"#),
            SessionFrame::Connected {
                client_id: Some("c1"),
                resume_token: Some("t-_1"),
                pid: None
            }
        );
        assert_eq!(
            parse(
                r#"{"type":"joined","payload":{"roomId":"r","members":3,"epoch":"e1","seq":45,"recovered":false,"reason":"too_many"}}"#
            ),
            SessionFrame::Joined {
                epoch: Some("e1"),
                seq: Some(45),
                recovered: Some(false),
                reason: Some("too_many")
            }
        );
        assert_eq!(
            parse(
                r#"{"type":"message","payload":{"from":"u","roomId":"r","text":"p3:9","timestamp":1,"seq":43}}"#
            ),
            SessionFrame::Message {
                text: "p3:9",
                seq: Some(43)
            }
        );
        assert_eq!(
            parse(
                r#"{"type":"ack","payload":{"id":4,"ok":true,"seq":42,"epoch":"e1","duplicate":true}}"#
            ),
            SessionFrame::Ack {
                id: 4,
                ok: true,
                seq: Some(42),
                epoch: Some("e1"),
                duplicate: true
            }
        );
        assert_eq!(
            parse(
                r#"{"type":"history","payload":{"roomId":"r","epoch":"e1","more":true,"messages":[{"from":"u","roomId":"r","text":"t","timestamp":1,"seq":20}]}}"#
            ),
            SessionFrame::History { last_seq: Some(20) }
        );
        // A string id is not one of the storm's.
        assert_eq!(
            parse(r#"{"type":"ack","payload":{"id":"x","ok":true}}"#),
            SessionFrame::Other
        );
    }

    #[test]
    fn reads_socket_io_sessions_offsets_and_acks() {
        let sio = Dialect::SocketIo;
        assert_eq!(
            sio.parse_session(r#"40{"sid":"s1","pid":"p1"}"#),
            (
                SessionFrame::Connected {
                    client_id: None,
                    resume_token: None,
                    pid: Some("p1")
                },
                None
            )
        );
        assert_eq!(
            sio.parse_session(
                r#"42["message",{"from":"a","roomId":"r","text":"p1:2","timestamp":5},"Ox7"]"#
            ),
            (
                SessionFrame::Message {
                    text: "p1:2",
                    seq: None
                },
                Some("Ox7")
            )
        );
        // Without recovery, no offset; `joined` is sent to one socket and never has one.
        assert_eq!(
            sio.parse_session(r#"42["user:joined",{"userId":"u","roomId":"r"}]"#),
            (SessionFrame::Other, None)
        );
        assert_eq!(
            sio.parse_session(r#"42["joined",{"roomId":"r","members":2}]"#)
                .1,
            None
        );
        assert_eq!(
            sio.parse_session(r#"4312[{"ok":true}]"#).0,
            SessionFrame::Ack {
                id: 12,
                ok: true,
                seq: None,
                epoch: None,
                duplicate: false
            }
        );
        assert_eq!(
            sio.parse_session(r#"0{"sid":"e","upgrades":[]}"#).0,
            SessionFrame::Open
        );
    }

    #[test]
    fn encodes_resumes_and_acked_messages() {
        assert_eq!(
            Dialect::Guide.join_since("r", Some(("e1", 42)), 0),
            r#"{"type":"join","payload":{"roomId":"r","since":{"epoch":"e1","seq":42}},"id":0}"#
        );
        assert_eq!(
            Dialect::Guide.join_since("r", None, 0),
            r#"{"type":"join","payload":{"roomId":"r"},"id":0}"#
        );
        assert_eq!(
            Dialect::SocketIo.join_since("r", Some(("e1", 42)), 0),
            r#"42["join",{"roomId":"r"}]"#
        );
        assert_eq!(
            Dialect::Guide.message_acked("r", "p1:2", "c1.2", 2),
            r#"{"type":"message","payload":{"roomId":"r","text":"p1:2","cid":"c1.2"},"id":2}"#
        );
        assert_eq!(
            Dialect::SocketIo.message_acked("r", "p1:2", "c1.2", 2),
            r#"422["message",{"roomId":"r","text":"p1:2"}]"#
        );
        assert_eq!(
            Dialect::socket_io_connect("p1", Some("Ox7")),
            r#"40{"pid":"p1","offset":"Ox7"}"#
        );
        assert_eq!(Dialect::socket_io_connect("p1", None), r#"40{"pid":"p1"}"#);
        let history: serde_json::Value =
            serde_json::from_str(&Dialect::Guide.latest_stored("r", 7)).expect("JSON");
        assert_eq!(history["payload"]["limit"], 1);
    }
}
