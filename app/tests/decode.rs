//! `decode` in a real browser (headless Chromium): it reads what the browser's `JSON.parse`
//! made, so it is tested where that runs. Run by `scripts/e2e.sh`:
//!
//! ```text
//! CHROMEDRIVER=$(command -v chromedriver) cargo test --target wasm32-unknown-unknown -p tether-app --test decode
//! ```
#![cfg(target_arch = "wasm32")]

use tether_app::decode::decode;
use tether_client::protocol::{
    ChatMessage, Connected, ErrorCode, ErrorPayload, Joined, Member, Presence, ServerMessage,
    Typing, UserEvent,
};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Every type the chat uses decodes to what `ServerMessage`'s own serde impl makes of it.
#[wasm_bindgen_test]
fn agrees_with_the_protocol_types() {
    let messages = [
        ServerMessage::Connected(Connected {
            client_id: "5b1f".into(),
            resume_token: None,
            user_id: None,
            name: None,
        }),
        // With token auth: the token's user and name.
        ServerMessage::Connected(Connected {
            client_id: "5b1f".into(),
            resume_token: Some("r".into()),
            user_id: Some("dev-7a".into()),
            name: Some("Ada".into()),
        }),
        ServerMessage::Joined(Joined::new("lobby", 2)),
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
            seq: None,
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
            total: None,
        }),
        ServerMessage::Error(ErrorPayload {
            message: "not in room \"lobby\"".into(),
            code: None,
            retry_after_ms: None,
        }),
        ServerMessage::Error(ErrorPayload {
            message: "not in room".into(),
            code: Some(ErrorCode::NotInRoom),
            retry_after_ms: None,
        }),
    ];
    for message in messages {
        let text = serde_json::to_string(&message).expect("serializes");
        assert_eq!(decode(&text), Some(message), "{text}");
    }
}

#[wasm_bindgen_test]
fn ignores_unknown_fields_and_the_order_of_keys() {
    let text = r#"{"payload":{"roomId":"a","members":1,"seq":7},"extra":true,"type":"joined"}"#;
    assert!(matches!(decode(text), Some(ServerMessage::Joined(j)) if j.room_id == "a"));
}

#[wasm_bindgen_test]
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

#[wasm_bindgen_test]
fn a_code_from_a_newer_server_is_unknown() {
    // A name that no version of the protocol knows (a real one, like `rate_limited`, decodes).
    let text = r#"{"type":"error","payload":{"message":"slow down","code":"on_fire"}}"#;
    assert_eq!(
        decode(text),
        Some(ServerMessage::Error(ErrorPayload {
            message: "slow down".into(),
            code: Some(ErrorCode::Unknown),
            retry_after_ms: None,
        }))
    );
}

#[wasm_bindgen_test]
fn a_null_name_is_no_name() {
    let text = r#"{"type":"typing","payload":{"userId":"u","roomId":"r","name":null}}"#;
    assert!(matches!(decode(text), Some(ServerMessage::Typing(t)) if t.name.is_none()));
}

/// A field of the wrong kind makes the whole message `None`, as serde would, never a guess.
#[wasm_bindgen_test]
fn refuses_fields_of_the_wrong_kind() {
    for text in [
        r#"{"type":"joined","payload":{"roomId":"a","members":-1}}"#,
        r#"{"type":"joined","payload":{"roomId":"a","members":1.5}}"#,
        r#"{"type":"joined","payload":{"roomId":"a","members":"2"}}"#,
        r#"{"type":"message","payload":{"from":"u","roomId":"a","text":"hi"}}"#,
        r#"{"type":"presence","payload":{"roomId":"a","members":[{"name":"x"}]}}"#,
        r#"{"type":"presence","payload":{"roomId":"a","members":{"userId":"u"}}}"#,
        r#"{"type":"connected","payload":["clientId"]}"#,
        r#"{"type":7,"payload":{}}"#,
        r#"["joined"]"#,
    ] {
        assert_eq!(decode(text), None, "{text}");
    }
}
