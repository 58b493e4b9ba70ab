//! Bad input from one client: each gets its exact refusal (or close code), the connection stays
//! open when PROTOCOL.md says so, nothing leaks to the room, and the room's other member keeps
//! receiving messages afterwards.

mod common;

use common::{Client, RawWs, TestServer, config, raw_text_frame};
use serde_json::{Value, json};
use tether_server::Config;
use tokio_tungstenite::tungstenite::{
    Message,
    protocol::frame::{
        Frame,
        coding::{Data, OpCode},
    },
};

const MASK: Option<[u8; 4]> = Some([0x12, 0x34, 0x56, 0x78]);
/// FIN and the text opcode.
const FINAL_TEXT: u8 = 0x81;

/// A room `r` with the client that misbehaves and a bystander.
struct Room {
    server: TestServer,
    bad: Client,
    bystander: Client,
}

async fn room_with(config: Config) -> Room {
    let server = TestServer::with(config).await;
    let mut bystander = server.connect().await;
    let mut bad = server.connect().await;
    bystander.join("r").await;
    bad.join("r").await;
    bystander.recv_type("user:joined").await;
    Room {
        server,
        bad,
        bystander,
    }
}

async fn room() -> Room {
    room_with(config()).await
}

fn error(code: &str, message: &str) -> Value {
    json!({"type": "error", "payload": {"message": message, "code": code}})
}

impl Room {
    /// Sends `text` from the bad client and asserts the exact `error` it gets back.
    async fn refused(&mut self, text: &str, code: &str, message: &str) {
        self.bad.send_text(text).await;
        assert_eq!(self.bad.recv().await, error(code, message), "for {text}");
    }

    /// The bad client's connection is still open and usable, and the bystander's next message is
    /// the bad client's next chat: nothing from the bad input reached it.
    async fn still_works(mut self) {
        self.bad.expect_nothing_pending().await;
        self.bad.say("r", "still here").await;
        let message = self.bystander.recv_type("message").await;
        assert_eq!(message["payload"]["from"], self.bad.id.as_str());
        assert_eq!(message["payload"]["text"], "still here");
    }

    /// After the bad client was closed: the bystander hears it left, and still gets the messages
    /// of a newcomer to the room.
    async fn bystander_carries_on(self) {
        let gone = self.bad.id.clone();
        self.bystander_carries_on_after(&gone).await;
    }

    /// [`Self::bystander_carries_on`] after the client with id `gone` was closed.
    async fn bystander_carries_on_after(mut self, gone: &str) {
        let left = self.bystander.recv_type("user:left").await;
        assert_eq!(left["payload"]["userId"], gone);
        let mut newcomer = self.server.connect().await;
        newcomer.join("r").await;
        self.bystander.recv_type("user:joined").await;
        newcomer.say("r", "hello after").await;
        let message = self.bystander.recv_type("message").await;
        assert_eq!(message["payload"]["text"], "hello after");
    }
}

#[tokio::test]
async fn invalid_json_gets_invalid_json_and_the_connection_stays_open() {
    let mut room = room().await;
    room.refused(
        "{nope",
        "invalid_json",
        "invalid JSON: key must be a string",
    )
    .await;
    room.still_works().await;
}

#[tokio::test]
async fn a_json_value_that_is_not_an_object_gets_invalid_json() {
    let mut room = room().await;
    room.refused(
        "[1,2]",
        "invalid_json",
        r#"a message must be a JSON object with "type" and "payload""#,
    )
    .await;
    room.still_works().await;
}

#[tokio::test]
async fn unknown_type_gets_unknown_type() {
    let mut room = room().await;
    room.refused(
        r#"{"type":"dance","payload":{}}"#,
        "unknown_type",
        r#"unknown message type "dance""#,
    )
    .await;
    room.still_works().await;
}

#[tokio::test]
async fn missing_type_gets_unknown_type() {
    let mut room = room().await;
    room.refused(
        r#"{"payload":{"roomId":"r"}}"#,
        "unknown_type",
        r#"missing "type""#,
    )
    .await;
    room.still_works().await;
}

#[tokio::test]
async fn missing_field_gets_invalid_payload_naming_the_field() {
    let mut room = room().await;
    room.refused(
        r#"{"type":"message","payload":{"roomId":"r"}}"#,
        "invalid_payload",
        r#"invalid payload for "message": missing field `text`"#,
    )
    .await;
    room.still_works().await;
}

#[tokio::test]
async fn missing_payload_gets_invalid_payload() {
    let mut room = room().await;
    room.refused(
        r#"{"type":"join"}"#,
        "invalid_payload",
        r#"invalid payload for "join": missing field `payload`"#,
    )
    .await;
    room.still_works().await;
}

#[tokio::test]
async fn wrong_field_type_gets_invalid_payload() {
    let mut room = room().await;
    room.refused(
        r#"{"type":"message","payload":{"roomId":"r","text":5}}"#,
        "invalid_payload",
        r#"invalid payload for "message": invalid type: integer `5`, expected a string"#,
    )
    .await;
    room.still_works().await;
}

#[tokio::test]
async fn negative_request_id_gets_an_error_since_there_is_no_id_to_ack() {
    let mut room = room().await;
    room.refused(
        r#"{"type":"ping","id":-1}"#,
        "invalid_payload",
        r#""id" must be a non-negative integer or a string"#,
    )
    .await;
    room.still_works().await;
}

#[tokio::test]
async fn undecodable_request_with_an_id_gets_a_failed_ack() {
    let mut room = room().await;
    room.bad
        .send_text(r#"{"type":"dance","payload":{},"id":9}"#)
        .await;
    assert_eq!(
        room.bad.recv().await,
        json!({"type": "ack", "payload": {
            "id": 9, "ok": false,
            "error": "unknown message type \"dance\"", "code": "unknown_type",
        }})
    );
    room.still_works().await;
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let mut room = room().await;
    room.bad
        .send_text(r#"{"type":"message","payload":{"roomId":"r","text":"x","seq":1},"extra":true}"#)
        .await;
    assert_eq!(
        room.bystander.recv_type("message").await["payload"]["text"],
        "x"
    );
    room.still_works().await;
}

#[tokio::test]
async fn text_over_the_limit_gets_too_long() {
    let mut room = room().await;
    let text = "x".repeat(8 * 1024 + 1);
    room.refused(
        &json!({"type": "message", "payload": {"roomId": "r", "text": text}}).to_string(),
        "too_long",
        "text is longer than 8192 bytes",
    )
    .await;
    room.still_works().await;
}

#[tokio::test]
async fn text_limit_counts_utf8_bytes_not_characters() {
    let mut room = room().await;
    // 2731 characters of three bytes each: 8193 bytes.
    let text = "한".repeat(2731);
    room.refused(
        &json!({"type": "message", "payload": {"roomId": "r", "text": text}}).to_string(),
        "too_long",
        "text is longer than 8192 bytes",
    )
    .await;
    room.still_works().await;
}

#[tokio::test]
async fn text_exactly_at_the_limit_is_delivered() {
    let mut room = room().await;
    let text = "x".repeat(8 * 1024);
    room.bad.say("r", &text).await;
    let message = room.bystander.recv_type("message").await;
    assert_eq!(
        message["payload"]["text"].as_str().map(str::len),
        Some(8192)
    );
    room.still_works().await;
}

#[tokio::test]
async fn empty_text_gets_empty() {
    let mut room = room().await;
    room.refused(
        r#"{"type":"message","payload":{"roomId":"r","text":""}}"#,
        "empty",
        "text is empty",
    )
    .await;
    room.still_works().await;
}

#[tokio::test]
async fn message_to_a_room_not_joined_gets_not_in_room() {
    let mut room = room().await;
    room.refused(
        r#"{"type":"message","payload":{"roomId":"lobby","text":"hi"}}"#,
        "not_in_room",
        r#"not in room "lobby""#,
    )
    .await;
    room.still_works().await;
}

#[tokio::test]
async fn typing_in_a_room_not_joined_gets_not_in_room() {
    let mut room = room().await;
    room.refused(
        r#"{"type":"typing","payload":{"roomId":"lobby"}}"#,
        "not_in_room",
        r#"not in room "lobby""#,
    )
    .await;
    room.still_works().await;
}

#[tokio::test]
async fn presence_of_a_room_not_joined_gets_not_in_room() {
    let mut room = room().await;
    room.refused(
        r#"{"type":"presence","payload":{"roomId":"lobby"}}"#,
        "not_in_room",
        r#"not in room "lobby""#,
    )
    .await;
    room.still_works().await;
}

#[tokio::test]
async fn leaving_a_room_not_joined_gets_not_in_room() {
    let mut room = room().await;
    room.refused(
        r#"{"type":"leave","payload":{"roomId":"lobby"}}"#,
        "not_in_room",
        r#"not in room "lobby""#,
    )
    .await;
    room.still_works().await;
}

#[tokio::test]
async fn joining_past_the_room_limit_gets_too_many_rooms() {
    let mut room = room_with(config().max_rooms_per_client(3)).await;
    room.bad.join("second").await;
    room.bad.join("third").await;
    room.refused(
        r#"{"type":"join","payload":{"roomId":"fourth"}}"#,
        "too_many_rooms",
        "already in 3 rooms, the most allowed",
    )
    .await;
    // Joining a room it is already in does not count against the limit.
    room.bad.join("third").await;
    room.still_works().await;
}

#[tokio::test]
async fn room_id_over_the_limit_gets_too_long() {
    let mut room = room().await;
    let room_id = "r".repeat(129);
    room.refused(
        &json!({"type": "join", "payload": {"roomId": room_id}}).to_string(),
        "too_long",
        "roomId is longer than 128 bytes",
    )
    .await;
    room.still_works().await;
}

#[tokio::test]
async fn room_id_exactly_at_the_limit_is_accepted() {
    let room = room().await;
    let mut client = room.server.connect().await;
    let room_id = "r".repeat(128);
    assert_eq!(client.join(&room_id).await["payload"]["roomId"], room_id);
    room.still_works().await;
}

#[tokio::test]
async fn empty_room_id_gets_empty() {
    let mut room = room().await;
    room.refused(
        r#"{"type":"join","payload":{"roomId":""}}"#,
        "empty",
        "roomId is empty",
    )
    .await;
    room.still_works().await;
}

#[tokio::test]
async fn name_over_the_limit_gets_too_long() {
    let mut room = room().await;
    let name = "n".repeat(65);
    room.refused(
        &json!({"type": "identify", "payload": {"name": name}}).to_string(),
        "too_long",
        "name is longer than 64 bytes",
    )
    .await;
    room.still_works().await;
}

#[tokio::test]
async fn blank_name_gets_empty() {
    let mut room = room().await;
    room.refused(
        r#"{"type":"identify","payload":{"name":"   "}}"#,
        "empty",
        "name is blank",
    )
    .await;
    room.still_works().await;
}

#[tokio::test]
async fn name_with_control_characters_gets_invalid_payload() {
    let mut room = room().await;
    room.refused(
        r#"{"type":"identify","payload":{"name":"Bob\u0007"}}"#,
        "invalid_payload",
        "name contains control characters",
    )
    .await;
    room.still_works().await;
}

#[tokio::test]
async fn binary_json_is_read_like_text() {
    let mut room = room().await;
    room.bad
        .send_raw(Message::binary(br#"{"type":"ping"}"#.to_vec()))
        .await;
    assert_eq!(room.bad.recv().await, json!({"type": "pong"}));
    room.bad
        .send_raw(Message::binary(
            br#"{"type":"message","payload":{"roomId":"r","text":"via binary"}}"#.to_vec(),
        ))
        .await;
    assert_eq!(
        room.bystander.recv_type("message").await["payload"]["text"],
        "via binary"
    );
    room.still_works().await;
}

#[tokio::test]
async fn binary_that_is_not_utf8_gets_invalid_json() {
    let mut room = room().await;
    room.bad
        .send_raw(Message::binary(vec![0xC3, 0x28, 0xFF]))
        .await;
    assert_eq!(
        room.bad.recv().await,
        error(
            "invalid_json",
            "invalid JSON: a binary message must hold UTF-8 JSON"
        )
    );
    room.still_works().await;
}

#[tokio::test]
async fn refusals_are_counted() {
    let mut room = room().await;
    room.bad.send_text("{nope").await;
    room.bad.recv_type("error").await;
    room.bad
        .send_text(r#"{"type":"leave","payload":{"roomId":"x"},"id":1}"#)
        .await;
    room.bad.recv_type("ack").await;
    assert_eq!(
        room.server.metric("tether_messages_refused_total").await,
        2.0
    );
    room.still_works().await;
}

#[tokio::test]
async fn message_over_max_message_bytes_closes_with_1009() {
    let mut room = room_with(config().max_message_bytes(4096)).await;
    let text = "x".repeat(5000);
    room.bad
        .send_text(
            &json!({"type": "message", "payload": {"roomId": "r", "text": text}}).to_string(),
        )
        .await;
    room.bad.expect_close(1009).await;
    room.bystander_carries_on().await;
}

#[tokio::test]
async fn message_over_the_default_64_kib_closes_with_1009() {
    let mut room = room().await;
    // Not even JSON: the size limit applies before anything is parsed.
    room.bad.send_text(&"x".repeat(64 * 1024 + 1)).await;
    room.bad.expect_close(1009).await;
    room.bystander_carries_on().await;
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    let mut room = room().await;
    room.bad.send_raw(raw_text_frame(&[0xC3, 0x28])).await;
    room.bad.expect_close(1007).await;
    room.bystander_carries_on().await;
}

#[tokio::test]
async fn a_fragmented_message_over_the_limit_closes_with_1009() {
    let mut room = room_with(config().max_message_bytes(4096)).await;
    // Every frame is under the limit; the message they make is not.
    let part = || vec![b'x'; 2000];
    room.bad
        .send_raw(Message::Frame(Frame::message(
            part(),
            OpCode::Data(Data::Text),
            false,
        )))
        .await;
    room.bad
        .send_raw(Message::Frame(Frame::message(
            part(),
            OpCode::Data(Data::Continue),
            false,
        )))
        .await;
    room.bad
        .send_raw(Message::Frame(Frame::message(
            part(),
            OpCode::Data(Data::Continue),
            true,
        )))
        .await;
    room.bad.expect_close(1009).await;
    room.bystander_carries_on().await;
}

impl Room {
    /// A hand-driven client joined to `r`, and its client id.
    async fn raw_member(&mut self) -> (RawWs, String) {
        let mut raw = RawWs::connect(self.server.addr()).await;
        let (_, connected) = raw.read_frame().await.expect("connected");
        let connected: Value = serde_json::from_slice(&connected).expect("JSON");
        let id = connected["payload"]["clientId"]
            .as_str()
            .expect("clientId")
            .to_owned();
        raw.send_frame(
            FINAL_TEXT,
            br#"{"type":"join","payload":{"roomId":"r"}}"#,
            MASK,
        )
        .await;
        let (_, joined) = raw.read_frame().await.expect("joined");
        assert_eq!(
            serde_json::from_slice::<Value>(&joined).expect("JSON")["type"],
            "joined"
        );
        self.bystander.recv_type("user:joined").await;
        self.bad.recv_type("user:joined").await;
        (raw, id)
    }
}

#[tokio::test]
async fn a_well_formed_raw_client_is_served() {
    // The hand-driven client itself is sound: a masked ping gets its pong.
    let mut room = room().await;
    let (mut raw, _) = room.raw_member().await;
    raw.send_frame(FINAL_TEXT, br#"{"type":"ping"}"#, MASK)
        .await;
    assert_eq!(
        raw.read_frame().await,
        Some((0x1, br#"{"type":"pong"}"#.to_vec()))
    );
    room.still_works().await;
}

#[tokio::test]
async fn an_unmasked_client_frame_closes_with_1002() {
    let mut room = room().await;
    let (mut raw, id) = room.raw_member().await;
    raw.send_frame(FINAL_TEXT, br#"{"type":"ping"}"#, None)
        .await;
    raw.expect_close(1002).await;
    room.bystander_carries_on_after(&id).await;
}

#[tokio::test]
async fn a_reserved_bit_without_an_extension_closes_with_1002() {
    let mut room = room().await;
    let (mut raw, id) = room.raw_member().await;
    // RSV1 set: only meaningful with a negotiated extension, and none was.
    raw.send_frame(FINAL_TEXT | 0x40, br#"{"type":"ping"}"#, MASK)
        .await;
    raw.expect_close(1002).await;
    room.bystander_carries_on_after(&id).await;
}

#[tokio::test]
async fn an_unknown_opcode_closes_with_1002() {
    let mut room = room().await;
    let (mut raw, id) = room.raw_member().await;
    // 0x3 is a reserved data opcode.
    raw.send_frame(0x83, b"?", MASK).await;
    raw.expect_close(1002).await;
    room.bystander_carries_on_after(&id).await;
}
