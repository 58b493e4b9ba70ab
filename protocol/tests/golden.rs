//! Golden JSON: pins the exact wire shape of every message, in both directions.

use serde_json::{Value, json};
use tether_protocol::*;

/// Serializes `value` and checks it equals `expected`, then parses `expected` back and checks it
/// equals `value`.
fn golden<T>(value: T, expected: Value)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    assert_eq!(serde_json::to_value(&value).expect("serializes"), expected);
    assert_eq!(
        serde_json::from_value::<T>(expected).expect("parses"),
        value
    );
}

fn client(message: ClientMessage, expected: Value) {
    golden(ClientFrame::new(message), expected);
}

#[test]
fn client_messages_from_the_guide() {
    client(
        ClientMessage::Join(JoinRoom::new("room-123")),
        json!({"type": "join", "payload": {"roomId": "room-123"}}),
    );
    client(
        ClientMessage::Leave(RoomRef::new("room-123")),
        json!({"type": "leave", "payload": {"roomId": "room-123"}}),
    );
    client(
        ClientMessage::Message(SendText::new("room-123", "Hello!")),
        json!({"type": "message", "payload": {"roomId": "room-123", "text": "Hello!"}}),
    );
    client(
        ClientMessage::Typing(RoomRef::new("room-123")),
        json!({"type": "typing", "payload": {"roomId": "room-123"}}),
    );
}

#[test]
fn client_extensions() {
    client(
        ClientMessage::Private(PrivateSend {
            to: "b1".into(),
            text: "psst".into(),
        }),
        json!({"type": "private:message", "payload": {"to": "b1", "text": "psst"}}),
    );
    client(
        ClientMessage::Presence(RoomRef::new("r")),
        json!({"type": "presence", "payload": {"roomId": "r"}}),
    );
    client(
        ClientMessage::Identify(Identify {
            name: "Alice".into(),
        }),
        json!({"type": "identify", "payload": {"name": "Alice"}}),
    );
    client(ClientMessage::Ping, json!({"type": "ping"}));
    client(
        ClientMessage::Refresh(tether_protocol::Refresh {
            token: "a.b.c".into(),
        }),
        json!({"type": "refresh", "payload": {"token": "a.b.c"}}),
    );
}

#[test]
fn request_ids_are_numbers_or_strings_next_to_type_and_payload() {
    golden(
        ClientFrame::new(ClientMessage::Join(JoinRoom::new("r"))).with_id(7),
        json!({"type": "join", "payload": {"roomId": "r"}, "id": 7}),
    );
    golden(
        ClientFrame::new(ClientMessage::Ping).with_id("a-1"),
        json!({"type": "ping", "id": "a-1"}),
    );
}

#[test]
fn every_client_type_is_listed() {
    let all = [
        ClientMessage::Join(JoinRoom::new("r")),
        ClientMessage::Leave(RoomRef::new("r")),
        ClientMessage::Message(SendText::new("r", "t")),
        ClientMessage::Typing(RoomRef::new("r")),
        ClientMessage::Private(PrivateSend {
            to: "c".into(),
            text: "t".into(),
        }),
        ClientMessage::Presence(RoomRef::new("r")),
        ClientMessage::Identify(Identify { name: "n".into() }),
        ClientMessage::History(HistoryRequest {
            room_id: "r".into(),
            before: None,
            limit: None,
        }),
        ClientMessage::Ping,
        ClientMessage::Refresh(tether_protocol::Refresh { token: "t".into() }),
    ];
    let names: Vec<_> = all.iter().map(ClientMessage::type_name).collect();
    assert_eq!(names, ClientMessage::TYPES);
    for message in all {
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!(json["type"], message.type_name());
    }
}

#[test]
fn server_messages_from_the_guide() {
    golden(
        ServerMessage::Connected(Connected {
            client_id: "c1".into(),
            resume_token: None,
            user_id: None,
            name: None,
        }),
        json!({"type": "connected", "payload": {"clientId": "c1"}}),
    );
    // With token auth: who the token says the client is.
    golden(
        ServerMessage::Connected(Connected {
            client_id: "c1".into(),
            resume_token: Some("t".into()),
            user_id: Some("ada".into()),
            name: Some("Ada".into()),
        }),
        json!({"type": "connected", "payload": {
            "clientId": "c1", "resumeToken": "t", "userId": "ada", "name": "Ada"
        }}),
    );
    golden(
        ServerMessage::Joined(Joined::new("r", 3)),
        json!({"type": "joined", "payload": {"roomId": "r", "members": 3}}),
    );
    golden(
        ServerMessage::UserJoined(UserEvent {
            user_id: "c2".into(),
            room_id: "r".into(),
            name: None,
        }),
        json!({"type": "user:joined", "payload": {"userId": "c2", "roomId": "r"}}),
    );
    golden(
        ServerMessage::UserLeft(UserEvent {
            user_id: "c2".into(),
            room_id: "r".into(),
            name: None,
        }),
        json!({"type": "user:left", "payload": {"userId": "c2", "roomId": "r"}}),
    );
    golden(
        ServerMessage::Message(ChatMessage {
            from: "c2".into(),
            room_id: "r".into(),
            text: "hi".into(),
            timestamp: 1_700_000_000_000,
            name: None,
            seq: None,
        }),
        json!({"type": "message", "payload": {
            "from": "c2", "roomId": "r", "text": "hi", "timestamp": 1_700_000_000_000u64
        }}),
    );
    golden(
        ServerMessage::Typing(Typing {
            user_id: "c2".into(),
            room_id: "r".into(),
            name: None,
        }),
        json!({"type": "typing", "payload": {"userId": "c2", "roomId": "r"}}),
    );
    golden(
        ServerMessage::Error(ErrorPayload {
            message: "Invalid message format".into(),
            code: None,
            retry_after_ms: None,
        }),
        json!({"type": "error", "payload": {"message": "Invalid message format"}}),
    );
}

#[test]
fn server_extensions() {
    golden(
        ServerMessage::UserJoined(UserEvent {
            user_id: "c2".into(),
            room_id: "r".into(),
            name: Some("Bob".into()),
        }),
        json!({"type": "user:joined", "payload": {"userId": "c2", "roomId": "r", "name": "Bob"}}),
    );
    golden(
        ServerMessage::Error(ErrorPayload {
            message: "not in room \"r\"".into(),
            code: Some(ErrorCode::NotInRoom),
            retry_after_ms: None,
        }),
        json!({"type": "error", "payload": {"message": "not in room \"r\"", "code": "not_in_room"}}),
    );
    golden(
        ServerMessage::Ack(Ack::ok(7.into())),
        json!({"type": "ack", "payload": {"id": 7, "ok": true}}),
    );
    golden(
        ServerMessage::Ack(Ack::failed(
            "x".into(),
            ErrorCode::TooLong,
            "text is longer than 8192 bytes",
        )),
        json!({"type": "ack", "payload": {
            "id": "x", "ok": false, "error": "text is longer than 8192 bytes", "code": "too_long"
        }}),
    );
    golden(
        ServerMessage::Private(PrivateMessage {
            from: "a".into(),
            to: "b".into(),
            text: "psst".into(),
            timestamp: 5,
            name: Some("Alice".into()),
            user_id: None,
        }),
        json!({"type": "private:message", "payload": {
            "from": "a", "to": "b", "text": "psst", "timestamp": 5, "name": "Alice"
        }}),
    );
    golden(
        ServerMessage::Presence(Presence {
            room_id: "r".into(),
            members: vec![
                Member {
                    user_id: "a".into(),
                    name: Some("Alice".into()),
                },
                Member {
                    user_id: "b".into(),
                    name: None,
                },
            ],
            total: None,
        }),
        json!({"type": "presence", "payload": {"roomId": "r", "members": [
            {"userId": "a", "name": "Alice"}, {"userId": "b"}
        ]}}),
    );
    golden(
        ServerMessage::Presence(Presence {
            room_id: "big".into(),
            members: vec![Member {
                user_id: "a".into(),
                name: None,
            }],
            total: Some(5000),
        }),
        json!({"type": "presence", "payload": {"roomId": "big", "members": [{"userId": "a"}], "total": 5000}}),
    );
    golden(
        ServerMessage::Error(ErrorPayload {
            message: "too many messages: wait 20 ms".into(),
            code: Some(ErrorCode::RateLimited),
            retry_after_ms: Some(20),
        }),
        json!({"type": "error", "payload": {
            "message": "too many messages: wait 20 ms", "code": "rate_limited", "retryAfterMs": 20
        }}),
    );
    golden(
        ServerMessage::Ack(Ack {
            retry_after_ms: Some(20),
            ..Ack::failed(
                3.into(),
                ErrorCode::RateLimited,
                "too many messages: wait 20 ms",
            )
        }),
        json!({"type": "ack", "payload": {
            "id": 3, "ok": false, "error": "too many messages: wait 20 ms", "code": "rate_limited",
            "retryAfterMs": 20
        }}),
    );
    golden(ServerMessage::Pong, json!({"type": "pong"}));
}

#[test]
fn payloads_are_objects_never_arrays() {
    for text in [
        r#"{"type":"join","payload":["x"]}"#,
        r#"{"payload":["x"],"type":"join"}"#,
        r#"{"type":"message","payload":["r","hi"]}"#,
        r#"{"type":"identify","payload":["Eve"]}"#,
        r#"{"type":"private:message","payload":["c1","hi"],"id":1}"#,
    ] {
        let err = serde_json::from_str::<ClientFrame>(text).expect_err(text);
        assert!(err.to_string().contains("sequence"), "{text}: {err}");
    }
    let join: ClientFrame = serde_json::from_str(r#"{"payload":{"roomId":"x"},"type":"join"}"#)
        .expect("an object in either order");
    assert_eq!(join.message, ClientMessage::Join(JoinRoom::new("x")));
}

#[test]
fn an_unknown_error_code_from_a_newer_server_still_parses() {
    let message: ServerMessage = serde_json::from_value(
        json!({"type": "error", "payload": {"message": "m", "code": "from_the_future"}}),
    )
    .unwrap();
    assert_eq!(
        message,
        ServerMessage::Error(ErrorPayload {
            message: "m".into(),
            code: Some(ErrorCode::Unknown),
            retry_after_ms: None,
        })
    );
}

#[test]
fn close_codes_say_which_are_transient() {
    for code in [1001, 1006, 1011, 1012, 1013] {
        assert!(CloseCode(code).is_transient(), "{code}");
    }
    for code in [1000, 1002, 1003, 1007, 1008, 1009, 4000] {
        assert!(!CloseCode(code).is_transient(), "{code}");
    }
}

#[test]
fn history_shapes() {
    let resume = ClientFrame::new(ClientMessage::Join(JoinRoom {
        since: Some(Position {
            epoch: "e1".into(),
            seq: 41,
        }),
        ..JoinRoom::new("r")
    }))
    .with_id(1);
    assert_eq!(
        serde_json::to_value(&resume).unwrap(),
        json!({"type": "join", "payload": {"roomId": "r", "since": {"epoch": "e1", "seq": 41}}, "id": 1})
    );
    let fresh = ClientMessage::Join(JoinRoom {
        recent: Some(50),
        ..JoinRoom::new("r")
    });
    assert_eq!(
        serde_json::to_value(&fresh).unwrap(),
        json!({"type": "join", "payload": {"roomId": "r", "recent": 50}})
    );
    let send = ClientMessage::Message(SendText {
        cid: Some("m-1".into()),
        ..SendText::new("r", "hi")
    });
    assert_eq!(
        serde_json::to_value(&send).unwrap(),
        json!({"type": "message", "payload": {"roomId": "r", "text": "hi", "cid": "m-1"}})
    );
    let page = ClientMessage::History(HistoryRequest {
        room_id: "r".into(),
        before: Some(41),
        limit: Some(20),
    });
    assert_eq!(
        serde_json::to_value(&page).unwrap(),
        json!({"type": "history", "payload": {"roomId": "r", "before": 41, "limit": 20}})
    );

    golden(
        ServerMessage::Joined(Joined {
            epoch: Some("e1".into()),
            seq: Some(44),
            recovered: Some(true),
            ..Joined::new("r", 2)
        }),
        json!({"type": "joined", "payload": {
            "roomId": "r", "members": 2, "epoch": "e1", "seq": 44, "recovered": true
        }}),
    );
    golden(
        ServerMessage::Joined(Joined {
            epoch: Some("e2".into()),
            seq: Some(3),
            recovered: Some(false),
            reason: Some("epoch_changed".into()),
            ..Joined::new("r", 1)
        }),
        json!({"type": "joined", "payload": {
            "roomId": "r", "members": 1, "epoch": "e2", "seq": 3, "recovered": false,
            "reason": "epoch_changed"
        }}),
    );
    let stored = ChatMessage {
        from: "c2".into(),
        room_id: "r".into(),
        text: "hi".into(),
        timestamp: 5,
        name: None,
        seq: Some(42),
    };
    golden(
        ServerMessage::Message(stored.clone()),
        json!({"type": "message", "payload": {
            "from": "c2", "roomId": "r", "text": "hi", "timestamp": 5, "seq": 42
        }}),
    );
    golden(
        ServerMessage::Ack(Ack {
            seq: Some(42),
            epoch: Some("e1".into()),
            duplicate: true,
            ..Ack::ok(9.into())
        }),
        json!({"type": "ack", "payload": {"id": 9, "ok": true, "seq": 42, "epoch": "e1", "duplicate": true}}),
    );
    golden(
        ServerMessage::History(History {
            room_id: "r".into(),
            epoch: "e1".into(),
            messages: vec![stored],
            more: true,
        }),
        json!({"type": "history", "payload": {"roomId": "r", "epoch": "e1", "more": true, "messages": [
            {"from": "c2", "roomId": "r", "text": "hi", "timestamp": 5, "seq": 42}
        ]}}),
    );
}
