//! A client written for the guide's Node chat server works unchanged: it sends exactly the guide's
//! JSON (no ids, no Tether extensions) and gets back exactly the guide's fields, byte for byte where
//! the guide's server would be deterministic.

mod common;

use common::{Client, TestServer};
use serde_json::Value;
use std::collections::BTreeSet;

/// The keys of a raw message's `payload`, after checking the message has only `type` and
/// `payload`.
fn payload_keys(raw: &str) -> BTreeSet<String> {
    let value: Value = serde_json::from_str(raw).expect("JSON");
    let object = value.as_object().expect("an object");
    assert_eq!(
        object.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from(["payload", "type"]),
        "{raw}"
    );
    value["payload"]
        .as_object()
        .expect("an object payload")
        .keys()
        .cloned()
        .collect()
}

fn keys(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// Two guide clients in `room-123`, `alice` first, each past its `joined`.
async fn two_guide_clients(server: &TestServer) -> (Client, Client) {
    let mut alice = server.connect().await;
    let mut bob = server.connect().await;
    alice
        .send_text(r#"{"type":"join","payload":{"roomId":"room-123"}}"#)
        .await;
    alice.recv_text().await;
    bob.send_text(r#"{"type":"join","payload":{"roomId":"room-123"}}"#)
        .await;
    bob.recv_text().await;
    alice.recv_text().await;
    (alice, bob)
}

#[tokio::test]
async fn connected_has_the_guides_field_first_then_only_the_resume_token() {
    let server = TestServer::start().await;
    let mut ws = Client {
        ws: server.open("").await,
        id: String::new(),
        resume_token: None,
    };
    let raw = ws.recv_text().await;
    assert_eq!(payload_keys(&raw), keys(&["clientId", "resumeToken"]));
    assert!(raw.starts_with(r#"{"type":"connected","payload":{"clientId":""#));
}

#[tokio::test]
async fn guide_join_gets_the_guides_joined_and_user_joined() {
    let server = TestServer::start().await;
    let mut alice = server.connect().await;
    let mut bob = server.connect().await;
    alice
        .send_text(r#"{"type":"join","payload":{"roomId":"room-123"}}"#)
        .await;
    // The guide's fields first, exactly; then only the optional history fields, which a guide
    // client ignores.
    let raw = alice.recv_text().await;
    assert!(
        raw.starts_with(r#"{"type":"joined","payload":{"roomId":"room-123","members":1,"#),
        "{raw}"
    );
    assert_eq!(
        payload_keys(&raw),
        keys(&["roomId", "members", "epoch", "seq"])
    );
    bob.send_text(r#"{"type":"join","payload":{"roomId":"room-123"}}"#)
        .await;
    let raw = bob.recv_text().await;
    assert!(
        raw.starts_with(r#"{"type":"joined","payload":{"roomId":"room-123","members":2,"#),
        "{raw}"
    );
    assert_eq!(
        alice.recv_text().await,
        format!(
            r#"{{"type":"user:joined","payload":{{"userId":"{}","roomId":"room-123"}}}}"#,
            bob.id
        )
    );
}

#[tokio::test]
async fn guide_message_gets_the_guides_message_fields() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = two_guide_clients(&server).await;
    alice
        .send_text(r#"{"type":"message","payload":{"roomId":"room-123","text":"Hello!"}}"#)
        .await;
    let raw = bob.recv_text().await;
    // The guide's fields, then only `seq` (its place in the room's history), which a guide client
    // ignores.
    assert_eq!(
        payload_keys(&raw),
        keys(&["from", "roomId", "text", "timestamp", "seq"])
    );
    let prefix = format!(
        r#"{{"type":"message","payload":{{"from":"{}","roomId":"room-123","text":"Hello!","timestamp":"#,
        alice.id
    );
    assert!(raw.starts_with(&prefix), "{raw}");
}

#[tokio::test]
async fn guide_typing_gets_the_guides_typing() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = two_guide_clients(&server).await;
    alice
        .send_text(r#"{"type":"typing","payload":{"roomId":"room-123"}}"#)
        .await;
    assert_eq!(
        bob.recv_text().await,
        format!(
            r#"{{"type":"typing","payload":{{"userId":"{}","roomId":"room-123"}}}}"#,
            alice.id
        )
    );
}

#[tokio::test]
async fn guide_leave_gets_the_guides_user_left() {
    let server = TestServer::start().await;
    let (mut alice, mut bob) = two_guide_clients(&server).await;
    bob.send_text(r#"{"type":"leave","payload":{"roomId":"room-123"}}"#)
        .await;
    assert_eq!(
        alice.recv_text().await,
        format!(
            r#"{{"type":"user:left","payload":{{"userId":"{}","roomId":"room-123"}}}}"#,
            bob.id
        )
    );
}

#[tokio::test]
async fn guide_client_gets_an_error_with_the_guides_message_field() {
    let server = TestServer::start().await;
    let mut alice = server.connect().await;
    alice.send_text("this is not JSON").await;
    let raw = alice.recv_text().await;
    // The guide's error payload is `{message}`; Tether adds only the optional `code`.
    assert_eq!(payload_keys(&raw), keys(&["code", "message"]));
    let value: Value = serde_json::from_str(&raw).expect("JSON");
    assert_eq!(value["type"], "error");
    assert!(value["payload"]["message"].is_string());
}

#[tokio::test]
async fn guide_websocket_client_bare_ping_gets_bare_pong() {
    let server = TestServer::start().await;
    let mut alice = server.connect().await;
    alice.send_text("ping").await;
    assert_eq!(alice.recv_text().await, "pong");
}

#[tokio::test]
async fn guide_subprotocols_are_accepted() {
    let server = TestServer::start().await;
    // The guide's browser client offers `['chat', 'json']`.
    assert_eq!(
        server
            .handshake_status(&[("Sec-WebSocket-Protocol", "chat, json")])
            .await,
        101
    );
}
