//! Bad input from one client: each gets its exact refusal (or close code), the connection stays
//! open when PROTOCOL.md says so, nothing leaks to the room, and the room's other member keeps
//! receiving messages afterwards.
//!
//! Most of it is one table, [`cases`]: what a client sends and what must come of it. One test
//! runs every row on a fresh connection to a shared server. The tests after it check what a row
//! cannot say: a counter, and a limit reached in steps.

mod common;

use common::{Client, RawWs, TestServer, config};
use futures_util::FutureExt;
use serde_json::{Value, json};
use std::{fmt, panic::AssertUnwindSafe};
use tether_server::Config;
use tokio_tungstenite::tungstenite::Message;

const MASK: Option<[u8; 4]> = Some([0x12, 0x34, 0x56, 0x78]);
/// FIN and the text opcode.
const FINAL_TEXT: u8 = 0x81;

/// One row: a fresh member of room `r` sends `input`, and `outcome` must follow.
struct Case {
    /// The behaviour it proves, named in every failure.
    name: &'static str,
    server: Limits,
    input: Input,
    outcome: Outcome,
}

/// The configuration a case's server runs with. Cases with the same one share a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limits {
    /// The test defaults ([`config`]).
    Defaults,
    /// The defaults with a smaller `max_message_bytes`.
    MaxMessageBytes(usize),
}

impl Limits {
    /// The configuration itself.
    fn config(self) -> Config {
        match self {
            Self::Defaults => config(),
            Self::MaxMessageBytes(max) => config().max_message_bytes(max),
        }
    }
}

/// What a case sends.
enum Input {
    /// One text message, from a WebSocket client library.
    Text(String),
    /// One binary message, from a WebSocket client library.
    Binary(Vec<u8>),
    /// Frames written by hand, for what no client library sends: bytes that are not UTF-8 in a
    /// text frame, fragments, unmasked frames, reserved bits and opcodes.
    Frames(Vec<RawFrame>),
}

/// One frame as a raw connection writes it.
struct RawFrame {
    /// FIN, the reserved bits and the opcode.
    first_byte: u8,
    payload: Vec<u8>,
    /// Clients must mask; `None` breaks that rule.
    mask: Option<[u8; 4]>,
}

/// What must come of a case's input.
enum Outcome {
    /// The sender's next message is this `error`; the connection stays open.
    Error {
        code: &'static str,
        message: &'static str,
    },
    /// The sender's next message is a failed `ack` of request `id`; the connection stays open.
    FailedAck {
        id: u64,
        code: &'static str,
        message: &'static str,
    },
    /// The sender's next message is exactly this; the connection stays open.
    Reply(Value),
    /// The room's other member gets a chat message with this text from the sender, who gets
    /// nothing back; the connection stays open.
    Delivered(String),
    /// The server closes the connection with this code, and the room carries on without it.
    Closed(u16),
}

impl Outcome {
    /// The message the sender must get next, for the outcomes that answer the sender.
    fn answer(&self) -> Option<Value> {
        match self {
            Self::Error { code, message } => Some(error(code, message)),
            Self::FailedAck { id, code, message } => Some(json!({"type": "ack", "payload": {
                "id": id, "ok": false, "error": message, "code": code,
            }})),
            Self::Reply(reply) => Some(reply.clone()),
            Self::Delivered(_) | Self::Closed(_) => None,
        }
    }
}

/// Whether `received` is `expected`, where a `"*"` in `expected` stands for any string.
fn matches(received: &Value, expected: &Value) -> bool {
    match (received, expected) {
        (Value::String(_), Value::String(any)) if any == "*" => true,
        (Value::Object(got), Value::Object(want)) => {
            got.len() == want.len()
                && want
                    .iter()
                    .all(|(key, want)| got.get(key).is_some_and(|got| matches(got, want)))
        }
        _ => received == expected,
    }
}

/// The `error` a refusal of a message without an `id` gets.
fn error(code: &str, message: &str) -> Value {
    json!({"type": "error", "payload": {"message": message, "code": code}})
}

/// A case on the server with the test defaults.
fn row(name: &'static str, input: Input, outcome: Outcome) -> Case {
    Case {
        name,
        server: Limits::Defaults,
        input,
        outcome,
    }
}

impl Case {
    /// Runs the case on a server with `server` instead.
    fn on(mut self, server: Limits) -> Self {
        self.server = server;
        self
    }
}

/// One text message.
fn text(text: impl Into<String>) -> Input {
    Input::Text(text.into())
}

/// A chat message to `room`, as JSON text.
fn chat(room: &str, text: &str) -> String {
    json!({"type": "message", "payload": {"roomId": room, "text": text}}).to_string()
}

/// A masked frame, as a client must send it.
fn masked(first_byte: u8, payload: &[u8]) -> RawFrame {
    RawFrame {
        first_byte,
        payload: payload.to_vec(),
        mask: MASK,
    }
}

/// An `error` with this code and message.
const fn refused(code: &'static str, message: &'static str) -> Outcome {
    Outcome::Error { code, message }
}

const NOT_IN_LOBBY: Outcome = refused("not_in_room", r#"not in room "lobby""#);
const TEXT_TOO_LONG: Outcome = refused("too_long", "text is longer than 8192 bytes");

/// Every case the table test runs, in order.
fn cases() -> Vec<Case> {
    let pong = || Outcome::Reply(json!({"type": "pong"}));
    let room_id_at_limit = "r".repeat(128);
    vec![
        // Not a message at all.
        row(
            "invalid_json_gets_invalid_json",
            text("{nope"),
            refused("invalid_json", "invalid JSON: key must be a string"),
        ),
        row(
            "a_json_value_that_is_not_an_object_gets_invalid_json",
            text("[1,2]"),
            refused(
                "invalid_json",
                r#"a message must be a JSON object with "type" and "payload""#,
            ),
        ),
        row(
            "unknown_type_gets_unknown_type",
            text(r#"{"type":"dance","payload":{}}"#),
            refused("unknown_type", r#"unknown message type "dance""#),
        ),
        row(
            "missing_type_gets_unknown_type",
            text(r#"{"payload":{"roomId":"r"}}"#),
            refused("unknown_type", r#"missing "type""#),
        ),
        // A known type with a payload that does not fit it.
        row(
            "missing_field_gets_invalid_payload_naming_the_field",
            text(r#"{"type":"message","payload":{"roomId":"r"}}"#),
            refused(
                "invalid_payload",
                r#"invalid payload for "message": missing field `text`"#,
            ),
        ),
        row(
            "missing_payload_gets_invalid_payload",
            text(r#"{"type":"join"}"#),
            refused(
                "invalid_payload",
                r#"invalid payload for "join": missing field `payload`"#,
            ),
        ),
        row(
            "wrong_field_type_gets_invalid_payload",
            text(r#"{"type":"message","payload":{"roomId":"r","text":5}}"#),
            refused(
                "invalid_payload",
                r#"invalid payload for "message": invalid type: integer `5`, expected a string"#,
            ),
        ),
        // Request ids.
        row(
            "negative_request_id_gets_an_error_since_there_is_no_id_to_ack",
            text(r#"{"type":"ping","id":-1}"#),
            refused(
                "invalid_payload",
                r#""id" must be a non-negative integer or a string"#,
            ),
        ),
        row(
            "undecodable_request_with_an_id_gets_a_failed_ack",
            text(r#"{"type":"dance","payload":{},"id":9}"#),
            Outcome::FailedAck {
                id: 9,
                code: "unknown_type",
                message: r#"unknown message type "dance""#,
            },
        ),
        row(
            "unknown_fields_are_ignored",
            text(r#"{"type":"message","payload":{"roomId":"r","text":"x","seq":1},"extra":true}"#),
            Outcome::Delivered("x".into()),
        ),
        // Chat text.
        row(
            "text_over_the_limit_gets_too_long",
            text(chat("r", &"x".repeat(8 * 1024 + 1))),
            TEXT_TOO_LONG,
        ),
        row(
            // 2731 characters of three bytes each: 8193 bytes.
            "text_limit_counts_utf8_bytes_not_characters",
            text(chat("r", &"한".repeat(2731))),
            TEXT_TOO_LONG,
        ),
        row(
            "text_exactly_at_the_limit_is_delivered",
            text(chat("r", &"x".repeat(8 * 1024))),
            Outcome::Delivered("x".repeat(8 * 1024)),
        ),
        row(
            "empty_text_gets_empty",
            text(chat("r", "")),
            refused("empty", "text is empty"),
        ),
        // Rooms.
        row(
            "message_to_a_room_not_joined_gets_not_in_room",
            text(chat("lobby", "hi")),
            NOT_IN_LOBBY,
        ),
        row(
            "typing_in_a_room_not_joined_gets_not_in_room",
            text(r#"{"type":"typing","payload":{"roomId":"lobby"}}"#),
            NOT_IN_LOBBY,
        ),
        row(
            "presence_of_a_room_not_joined_gets_not_in_room",
            text(r#"{"type":"presence","payload":{"roomId":"lobby"}}"#),
            NOT_IN_LOBBY,
        ),
        row(
            "leaving_a_room_not_joined_gets_not_in_room",
            text(r#"{"type":"leave","payload":{"roomId":"lobby"}}"#),
            NOT_IN_LOBBY,
        ),
        row(
            "room_id_over_the_limit_gets_too_long",
            text(join("r".repeat(129)).to_string()),
            refused("too_long", "roomId is longer than 128 bytes"),
        ),
        row(
            "room_id_exactly_at_the_limit_is_accepted",
            text(join(&room_id_at_limit).to_string()),
            // A room no other case joins: its only member is the joiner, and it has no history
            // yet. (The epoch is random; `expect` takes any string where `"*"` stands.)
            Outcome::Reply(json!({"type": "joined", "payload": {
                "roomId": room_id_at_limit, "members": 1, "epoch": "*", "seq": 0,
            }})),
        ),
        row(
            "empty_room_id_gets_empty",
            text(join("").to_string()),
            refused("empty", "roomId is empty"),
        ),
        // Names.
        row(
            "name_over_the_limit_gets_too_long",
            text(json!({"type": "identify", "payload": {"name": "n".repeat(65)}}).to_string()),
            refused("too_long", "name is longer than 64 bytes"),
        ),
        row(
            "blank_name_gets_empty",
            text(r#"{"type":"identify","payload":{"name":"   "}}"#),
            refused("empty", "name is blank"),
        ),
        row(
            "name_with_control_characters_gets_invalid_payload",
            text(r#"{"type":"identify","payload":{"name":"Bob\u0007"}}"#),
            refused("invalid_payload", "name contains control characters"),
        ),
        // Binary messages are read as UTF-8 JSON.
        row(
            "binary_json_is_read_like_text_ping",
            Input::Binary(br#"{"type":"ping"}"#.to_vec()),
            pong(),
        ),
        row(
            "binary_json_is_read_like_text_message",
            Input::Binary(chat("r", "via binary").into_bytes()),
            Outcome::Delivered("via binary".into()),
        ),
        row(
            "binary_that_is_not_utf8_gets_invalid_json",
            Input::Binary(vec![0xC3, 0x28, 0xFF]),
            refused(
                "invalid_json",
                "invalid JSON: a binary message must hold UTF-8 JSON",
            ),
        ),
        // Messages over the size limit: closed before anything is parsed.
        row(
            "message_over_max_message_bytes_closes_with_1009",
            text(chat("r", &"x".repeat(5000))),
            Outcome::Closed(1009),
        )
        .on(Limits::MaxMessageBytes(4096)),
        row(
            // Not even JSON: the size limit applies before anything is parsed.
            "message_over_the_default_64_kib_closes_with_1009",
            text("x".repeat(64 * 1024 + 1)),
            Outcome::Closed(1009),
        ),
        row(
            // Every frame is under the limit; the message they make is not.
            "a_fragmented_message_over_the_limit_closes_with_1009",
            Input::Frames(vec![
                masked(0x01, &[b'x'; 2000]),
                masked(0x00, &[b'x'; 2000]),
                masked(0x80, &[b'x'; 2000]),
            ]),
            Outcome::Closed(1009),
        )
        .on(Limits::MaxMessageBytes(4096)),
        // Frames that break RFC 6455.
        row(
            "invalid_utf8_in_a_text_frame_closes_with_1007",
            Input::Frames(vec![masked(FINAL_TEXT, &[0xC3, 0x28])]),
            Outcome::Closed(1007),
        ),
        row(
            // The hand-driven client itself is sound: a masked ping gets its pong.
            "a_well_formed_raw_client_is_served",
            Input::Frames(vec![masked(FINAL_TEXT, br#"{"type":"ping"}"#)]),
            pong(),
        ),
        row(
            "an_unmasked_client_frame_closes_with_1002",
            Input::Frames(vec![RawFrame {
                first_byte: FINAL_TEXT,
                payload: br#"{"type":"ping"}"#.to_vec(),
                mask: None,
            }]),
            Outcome::Closed(1002),
        ),
        row(
            // RSV1 set: only meaningful with a negotiated extension, and none was.
            "a_reserved_bit_without_an_extension_closes_with_1002",
            Input::Frames(vec![masked(FINAL_TEXT | 0x40, br#"{"type":"ping"}"#)]),
            Outcome::Closed(1002),
        ),
        row(
            // 0x3 is a reserved data opcode.
            "an_unknown_opcode_closes_with_1002",
            Input::Frames(vec![masked(0x83, b"?")]),
            Outcome::Closed(1002),
        ),
    ]
}

/// A `join` of `room`.
fn join(room: impl Into<String>) -> Value {
    json!({"type": "join", "payload": {"roomId": room.into()}})
}

#[tokio::test]
async fn every_bad_input_gets_its_outcome_and_the_room_carries_on() {
    let mut stages: Vec<(Limits, Stage)> = Vec::new();
    for case in cases() {
        let stage = match stages.iter().position(|(limits, _)| *limits == case.server) {
            Some(at) => &mut stages[at].1,
            None => {
                stages.push((case.server, Stage::start(case.server.config()).await));
                &mut stages.last_mut().expect("just pushed").1
            }
        };
        // A failure deep in the harness (a timeout, a message of the wrong type) does not know
        // which case it was in: catch it and name the case.
        if let Err(panic) = AssertUnwindSafe(stage.run(&case)).catch_unwind().await {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(a panic without a message)");
            panic!("case {}: {what}", case.name);
        }
    }
}

#[tokio::test]
async fn joining_past_the_room_limit_gets_too_many_rooms() {
    let mut stage = Stage::start(config().max_rooms_per_client(3)).await;
    let mut bad = stage.member(Kind::Library).await;
    bad.join("second").await;
    bad.join("third").await;
    bad.send_json(&join("fourth")).await;
    bad.expect(&error(
        "too_many_rooms",
        "already in 3 rooms, the most allowed",
    ))
    .await;
    // Joining a room it is already in does not count against the limit.
    bad.join("third").await;
    stage.still_works(&mut bad).await;
}

#[tokio::test]
async fn refusals_are_counted() {
    let mut stage = Stage::start(config()).await;
    let mut bad = stage.member(Kind::Library).await;
    bad.send_text("{nope").await;
    bad.expect_type("error").await;
    bad.send_text(r#"{"type":"leave","payload":{"roomId":"x"},"id":1}"#)
        .await;
    bad.expect_type("ack").await;
    assert_eq!(
        stage.server.metric("tether_messages_refused_total").await,
        2.0
    );
    stage.still_works(&mut bad).await;
}

/// A server with a room `r` and its steady member, the bystander, who hears everything the
/// cases do in the room and must hear nothing of their bad input.
struct Stage {
    server: TestServer,
    bystander: Client,
}

impl Stage {
    /// Starts a server with `config`; its bystander has joined `r`.
    async fn start(config: Config) -> Self {
        let server = TestServer::with(config).await;
        let mut bystander = server.connect().await;
        bystander.join("r").await;
        Self { server, bystander }
    }

    /// Runs one case on a fresh member of `r`, which is gone (and the bystander heard so)
    /// when it returns.
    async fn run(&mut self, case: &Case) {
        let kind = match case.input {
            Input::Text(_) | Input::Binary(_) => Kind::Library,
            Input::Frames(_) => Kind::Raw,
        };
        let mut bad = self.member(kind).await;
        bad.send(&case.input).await;
        if let Some(answer) = case.outcome.answer() {
            bad.expect(&answer).await;
        }
        match &case.outcome {
            Outcome::Closed(code) => {
                bad.expect_close(*code).await;
                let gone = bad.id;
                self.carries_on_after(&gone).await;
                return;
            }
            Outcome::Delivered(text) => {
                self.hears("message", &[("from", &bad.id), ("text", text)])
                    .await;
            }
            Outcome::Error { .. } | Outcome::FailedAck { .. } | Outcome::Reply(_) => {}
        }
        self.still_works(&mut bad).await;
        self.leaves(bad).await;
    }

    /// A fresh connection joined to `r`; the bystander heard it join.
    async fn member(&mut self, kind: Kind) -> Member {
        let mut member = Member::connect(&self.server, kind).await;
        member.join("r").await;
        let id = member.id.clone();
        self.hears("user:joined", &[("userId", &id)]).await;
        member
    }

    /// `member`'s connection is still open and usable: nothing is waiting for it before the
    /// answer to a fresh `ping`, and its next chat is the bystander's next message, so nothing
    /// from the bad input reached the room.
    async fn still_works(&mut self, member: &mut Member) {
        member.send_json(&json!({"type": "ping"})).await;
        member.expect(&json!({"type": "pong"})).await;
        member.send_text(&chat("r", "still here")).await;
        let id = member.id.clone();
        self.hears("message", &[("from", &id), ("text", "still here")])
            .await;
    }

    /// Drops `member`'s connection; the bystander hears it leave.
    async fn leaves(&mut self, member: Member) {
        let gone = member.id.clone();
        drop(member);
        self.hears("user:left", &[("userId", &gone)]).await;
    }

    /// After the member with id `gone` was closed: the bystander hears it left, and still gets
    /// the messages of a newcomer to the room.
    async fn carries_on_after(&mut self, gone: &str) {
        self.hears("user:left", &[("userId", gone)]).await;
        let mut newcomer = self.member(Kind::Library).await;
        newcomer.send_text(&chat("r", "hello after")).await;
        let id = newcomer.id.clone();
        self.hears("message", &[("from", &id), ("text", "hello after")])
            .await;
        self.leaves(newcomer).await;
    }

    /// The bystander's next message is a `kind` whose payload has these fields.
    async fn hears(&mut self, kind: &str, fields: &[(&str, &str)]) {
        let message = self.bystander.recv().await;
        let matches = message["type"] == kind
            && fields
                .iter()
                .all(|(field, value)| message["payload"][*field] == *value);
        assert!(
            matches,
            "the bystander expected {kind} with {}, received {}",
            shown(format!("{fields:?}")),
            shown(&message)
        );
    }
}

/// How a member talks to the server.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A WebSocket client library (tungstenite), as real clients are.
    Library,
    /// Frames written and read by hand.
    Raw,
}

/// A member of room `r`, over either kind of connection.
struct Member {
    conn: Conn,
    /// The client id the server gave it.
    id: String,
}

/// A member's connection.
enum Conn {
    // Boxed: a library client is far larger than a raw one.
    Library(Box<Client>),
    Raw(RawWs),
}

/// One thing a member received, for comparing and for failure messages.
enum Received {
    Text(String),
    Binary(Vec<u8>),
    /// A close frame, with its code if it had one.
    Close(Option<u16>),
    /// A frame of another opcode (raw connections only).
    Other(u8, Vec<u8>),
    /// The connection failed.
    Failed(String),
    /// The connection ended without a close frame.
    Ended,
}

impl fmt::Display for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(text) => write!(f, "text {text}"),
            Self::Binary(bytes) => write!(f, "binary {bytes:02x?}"),
            Self::Close(Some(code)) => write!(f, "a close with {code}"),
            Self::Close(None) => f.write_str("a close without a code"),
            Self::Other(opcode, payload) => write!(f, "opcode {opcode:#x} with {payload:02x?}"),
            Self::Failed(err) => write!(f, "a failed connection ({err})"),
            Self::Ended => f.write_str("the end of the connection, without a close"),
        }
    }
}

impl Member {
    /// Connects and reads `connected`.
    async fn connect(server: &TestServer, kind: Kind) -> Self {
        match kind {
            Kind::Library => {
                let client = server.connect().await;
                let id = client.id.clone();
                Self {
                    conn: Conn::Library(Box::new(client)),
                    id,
                }
            }
            Kind::Raw => {
                let mut member = Self {
                    conn: Conn::Raw(RawWs::connect(server.addr()).await),
                    id: String::new(),
                };
                let connected = member.expect_type("connected").await;
                member.id = connected["payload"]["clientId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("no clientId in {connected}"))
                    .to_owned();
                member
            }
        }
    }

    /// Sends a case's input.
    async fn send(&mut self, input: &Input) {
        match (&mut self.conn, input) {
            (Conn::Library(client), Input::Text(text)) => client.send_text(text).await,
            (Conn::Library(client), Input::Binary(bytes)) => {
                client.send_raw(Message::binary(bytes.clone())).await;
            }
            (Conn::Raw(raw), Input::Frames(frames)) => {
                for frame in frames {
                    raw.send_frame(frame.first_byte, &frame.payload, frame.mask)
                        .await;
                }
            }
            (Conn::Library(_), Input::Frames(_)) | (Conn::Raw(_), _) => {
                unreachable!("Stage::run picks a raw connection exactly for frames")
            }
        }
    }

    /// Sends one text message (a masked final text frame on a raw connection).
    async fn send_text(&mut self, text: &str) {
        match &mut self.conn {
            Conn::Library(client) => client.send_text(text).await,
            Conn::Raw(raw) => raw.send_frame(FINAL_TEXT, text.as_bytes(), MASK).await,
        }
    }

    /// Sends `value` as one text message.
    async fn send_json(&mut self, value: &Value) {
        self.send_text(&value.to_string()).await;
    }

    /// The next text, binary or close message; pings and pongs are skipped.
    async fn next(&mut self) -> Received {
        match &mut self.conn {
            Conn::Library(client) => match client.next_message().await {
                Some(Ok(Message::Text(text))) => Received::Text(text.as_str().to_owned()),
                Some(Ok(Message::Binary(bytes))) => Received::Binary(bytes.to_vec()),
                Some(Ok(Message::Close(frame))) => {
                    Received::Close(frame.map(|frame| u16::from(frame.code)))
                }
                Some(Ok(other)) => Received::Failed(format!("unexpected {other:?}")),
                Some(Err(err)) => Received::Failed(err.to_string()),
                None => Received::Ended,
            },
            Conn::Raw(raw) => loop {
                return match raw.read_frame().await {
                    Some((0x9 | 0xA, _)) => continue,
                    Some((0x1, payload)) => {
                        Received::Text(String::from_utf8_lossy(&payload).into_owned())
                    }
                    Some((0x2, payload)) => Received::Binary(payload),
                    Some((0x8, payload)) => Received::Close(
                        payload
                            .first_chunk::<2>()
                            .map(|code| u16::from_be_bytes(*code)),
                    ),
                    Some((opcode, payload)) => Received::Other(opcode, payload),
                    None => Received::Ended,
                };
            },
        }
    }

    /// The next message, which must be a JSON text.
    async fn next_json(&mut self) -> Value {
        match self.next().await {
            Received::Text(text) => serde_json::from_str(&text).unwrap_or_else(|err| {
                panic!("received text that is not JSON ({err}): {}", shown(&text))
            }),
            other => panic!("expected a JSON text, received {}", shown(&other)),
        }
    }

    /// The next message, which must be exactly `expected`.
    async fn expect(&mut self, expected: &Value) {
        let received = self.next_json().await;
        assert!(
            matches(&received, expected),
            "expected {expected}, received {}",
            shown(&received)
        );
    }

    /// The next message, which must be JSON of type `kind`.
    async fn expect_type(&mut self, kind: &str) -> Value {
        let received = self.next_json().await;
        assert!(
            received["type"] == kind,
            "expected a {kind}, received {}",
            shown(&received)
        );
        received
    }

    /// Joins `room`, and reads the `joined`.
    async fn join(&mut self, room: &str) {
        self.send_json(&join(room)).await;
        let joined = self.expect_type("joined").await;
        assert_eq!(joined["payload"]["roomId"], room, "joined {joined}");
    }

    /// Reads past any data messages until the server's close frame, whose code must be `code`.
    async fn expect_close(&mut self, code: u16) {
        let mut before = String::new();
        loop {
            match self.next().await {
                Received::Close(Some(got)) if got == code => return,
                data @ (Received::Text(_) | Received::Binary(_)) => {
                    before.push_str(&format!(" after {}", shown(&data)));
                }
                other => panic!(
                    "expected a close with {code}, received {}{before}",
                    shown(&other)
                ),
            }
        }
    }
}

/// `text` for a failure message, cut short: some cases send kilobytes.
fn shown(text: impl ToString) -> String {
    const MAX: usize = 300;
    let text = text.to_string();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], text.len()),
        None => text,
    }
}
