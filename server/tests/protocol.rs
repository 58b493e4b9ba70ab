//! Every protocol flow of PROTOCOL.md against the real server, with exact JSON shapes.

mod common;

use common::{Client, TestServer, now_millis, room_of};
use serde_json::{Value, json};
use tether_protocol::{ClientFrame, ClientMessage, Identify, JoinRoom, PrivateSend, RoomRef};

/// Asserts `message` is a chat `message` from `from` in `room` with `text`, stamped between
/// `before` and now, and has no other fields.
fn assert_chat(message: &Value, from: &str, room: &str, text: &str, before: u64) {
    let timestamp = message["payload"]["timestamp"]
        .as_u64()
        .unwrap_or_else(|| panic!("no numeric timestamp in {message}"));
    assert!(
        (before..=now_millis()).contains(&timestamp),
        "timestamp {timestamp} is not the receive time"
    );
    assert!(
        message["payload"]["seq"]
            .as_u64()
            .is_some_and(|seq| seq >= 1),
        "{message}"
    );
    assert_eq!(
        history_fields_removed(message, &["seq"]),
        json!({"type": "message", "payload": {
            "from": from, "roomId": room, "text": text, "timestamp": timestamp,
        }})
    );
}

/// `message` with `fields` (the history's, whose values other tests pin) taken out of its
/// payload, after checking each is there.
fn history_fields_removed(message: &Value, fields: &[&str]) -> Value {
    let mut message = message.clone();
    let payload = message["payload"].as_object_mut().expect("a payload");
    for field in fields {
        assert!(payload.remove(*field).is_some(), "no {field} in {message}");
    }
    message
}

#[tokio::test]
async fn connected_comes_first_with_a_uuid_client_id() {
    let server = TestServer::start().await;
    let mut fresh = Client {
        ws: server.open("").await,
        id: String::new(),
        resume_token: None,
    };
    let connected = fresh.recv().await;
    let id = connected["payload"]["clientId"].as_str().expect("clientId");
    uuid::Uuid::parse_str(id).expect("clientId is a UUID");
    let token = connected["payload"]["resumeToken"]
        .as_str()
        .expect("a resume token");
    assert_eq!(token.len(), 54, "40 bytes in base64url");
    assert_eq!(
        connected,
        json!({"type": "connected", "payload": {"clientId": id, "resumeToken": token}})
    );
}

#[tokio::test]
async fn every_connection_gets_its_own_client_id() {
    let server = TestServer::start().await;
    let a = server.connect().await;
    let b = server.connect().await;
    assert_ne!(a.id, b.id);
}

#[tokio::test]
async fn join_answers_joined_with_the_member_count() {
    let server = TestServer::start().await;
    let mut a = server.connect().await;
    let mut b = server.connect().await;
    let joined = a.join("room-123").await;
    assert_eq!(joined["payload"]["seq"], 0, "a new room has no history");
    assert!(joined["payload"]["epoch"].is_string());
    assert_eq!(
        history_fields_removed(&joined, &["epoch", "seq"]),
        json!({"type": "joined", "payload": {"roomId": "room-123", "members": 1}})
    );
    assert_eq!(
        history_fields_removed(&b.join("room-123").await, &["epoch", "seq"]),
        json!({"type": "joined", "payload": {"roomId": "room-123", "members": 2}})
    );
}

#[tokio::test]
async fn join_tells_the_other_members_user_joined() {
    let server = TestServer::start().await;
    let mut a = server.connect().await;
    let mut b = server.connect().await;
    a.join("r").await;
    b.join("r").await;
    assert_eq!(
        a.recv().await,
        json!({"type": "user:joined", "payload": {"userId": b.id, "roomId": "r"}})
    );
    b.expect_nothing_pending().await;
}

#[tokio::test]
async fn joining_again_answers_joined_and_tells_nobody() {
    let server = TestServer::start().await;
    let [mut a, mut b] = <[Client; 2]>::try_from(room_of(&server, "r", 2).await).unwrap();
    assert_eq!(
        history_fields_removed(&b.join("r").await, &["epoch", "seq"]),
        json!({"type": "joined", "payload": {"roomId": "r", "members": 2}})
    );
    a.expect_nothing_pending().await;
}

#[tokio::test]
async fn message_reaches_the_other_members_but_not_the_sender() {
    let server = TestServer::start().await;
    let [mut a, mut b, mut c] = <[Client; 3]>::try_from(room_of(&server, "r", 3).await).unwrap();
    let before = now_millis();
    a.say("r", "Hello!").await;
    assert_chat(&b.recv().await, &a.id, "r", "Hello!", before);
    assert_chat(&c.recv().await, &a.id, "r", "Hello!", before);
    a.expect_nothing_pending().await;
}

#[tokio::test]
async fn message_does_not_reach_other_rooms() {
    let server = TestServer::start().await;
    let mut a = server.connect().await;
    let mut outsider = server.connect().await;
    a.join("r").await;
    outsider.join("elsewhere").await;
    a.say("r", "only for r").await;
    outsider.expect_nothing_pending().await;
}

#[tokio::test]
async fn a_rooms_messages_arrive_in_the_order_sent() {
    let server = TestServer::start().await;
    let [mut a, mut b] = <[Client; 2]>::try_from(room_of(&server, "r", 2).await).unwrap();
    for i in 0..200 {
        a.say("r", &format!("m{i}")).await;
    }
    for i in 0..200 {
        assert_eq!(b.recv().await["payload"]["text"], format!("m{i}"));
    }
}

#[tokio::test]
async fn typing_reaches_the_other_members_but_not_the_typist() {
    let server = TestServer::start().await;
    let [mut a, mut b] = <[Client; 2]>::try_from(room_of(&server, "r", 2).await).unwrap();
    a.send(ClientMessage::Typing(RoomRef::new("r"))).await;
    assert_eq!(
        b.recv().await,
        json!({"type": "typing", "payload": {"userId": a.id, "roomId": "r"}})
    );
    a.expect_nothing_pending().await;
}

#[tokio::test]
async fn leave_tells_the_remaining_members_user_left() {
    let server = TestServer::start().await;
    let [mut a, mut b] = <[Client; 2]>::try_from(room_of(&server, "r", 2).await).unwrap();
    b.send(ClientMessage::Leave(RoomRef::new("r"))).await;
    assert_eq!(
        a.recv().await,
        json!({"type": "user:left", "payload": {"userId": b.id, "roomId": "r"}})
    );
    // The leaver hears nothing back, and no longer gets the room's messages.
    b.expect_nothing_pending().await;
    a.say("r", "after").await;
    b.expect_nothing_pending().await;
}

#[tokio::test]
async fn closing_tells_the_remaining_members_user_left() {
    let server = TestServer::start().await;
    let [mut a, b] = <[Client; 2]>::try_from(room_of(&server, "r", 2).await).unwrap();
    let b_id = b.id.clone();
    b.close().await;
    assert_eq!(
        a.recv().await,
        json!({"type": "user:left", "payload": {"userId": b_id, "roomId": "r"}})
    );
}

#[tokio::test]
async fn dropping_the_connection_tells_every_room_user_left() {
    let server = TestServer::start().await;
    let mut a = server.connect().await;
    let mut b = server.connect().await;
    let mut gone = server.connect().await;
    a.join("one").await;
    b.join("two").await;
    gone.join("one").await;
    gone.join("two").await;
    a.recv_type("user:joined").await;
    b.recv_type("user:joined").await;
    let gone_id = gone.id.clone();
    // No close handshake: the TCP connection just goes away.
    drop(gone);
    assert_eq!(
        a.recv().await,
        json!({"type": "user:left", "payload": {"userId": gone_id, "roomId": "one"}})
    );
    assert_eq!(
        b.recv().await,
        json!({"type": "user:left", "payload": {"userId": gone_id, "roomId": "two"}})
    );
}

#[tokio::test]
async fn presence_lists_every_member_with_names() {
    let server = TestServer::start().await;
    let mut a = server.connect().await;
    let mut b = server.connect().await;
    b.send(ClientMessage::Identify(Identify { name: "Bob".into() }))
        .await;
    a.join("r").await;
    b.join("r").await;
    a.recv_type("user:joined").await;
    a.send(ClientMessage::Presence(RoomRef::new("r"))).await;
    let mut presence = a.recv_type("presence").await;
    let members = presence["payload"]["members"]
        .as_array_mut()
        .expect("members is an array");
    // The order is unspecified.
    members.sort_by_key(|m| m["userId"].as_str().unwrap_or_default().to_owned());
    let mut expected = vec![
        json!({"userId": a.id}),
        json!({"userId": b.id, "name": "Bob"}),
    ];
    expected.sort_by_key(|m| m["userId"].as_str().unwrap_or_default().to_owned());
    assert_eq!(
        presence,
        json!({"type": "presence", "payload": {"roomId": "r", "members": expected}})
    );
}

#[tokio::test]
async fn identify_puts_the_name_on_later_events() {
    let server = TestServer::start().await;
    let mut a = server.connect().await;
    let mut b = server.connect().await;
    a.join("r").await;
    b.send(ClientMessage::Identify(Identify {
        name: "  Bob  ".into(),
    }))
    .await;
    b.join("r").await;
    assert_eq!(
        a.recv().await,
        json!({"type": "user:joined", "payload": {"userId": b.id, "roomId": "r", "name": "Bob"}})
    );
    b.say("r", "hi").await;
    let message = a.recv_type("message").await;
    assert_eq!(message["payload"]["name"], "Bob");
    b.send(ClientMessage::Typing(RoomRef::new("r"))).await;
    assert_eq!(
        a.recv().await,
        json!({"type": "typing", "payload": {"userId": b.id, "roomId": "r", "name": "Bob"}})
    );
    b.send(ClientMessage::Leave(RoomRef::new("r"))).await;
    assert_eq!(
        a.recv().await,
        json!({"type": "user:left", "payload": {"userId": b.id, "roomId": "r", "name": "Bob"}})
    );
}

#[tokio::test]
async fn private_message_reaches_the_addressee_alone() {
    let server = TestServer::start().await;
    let [mut a, mut b, mut c] = <[Client; 3]>::try_from(room_of(&server, "r", 3).await).unwrap();
    let before = now_millis();
    a.send(ClientMessage::Private(PrivateSend {
        to: b.id.clone(),
        text: "psst".into(),
    }))
    .await;
    let message = b.recv().await;
    let timestamp = message["payload"]["timestamp"].as_u64().expect("timestamp");
    assert!((before..=now_millis()).contains(&timestamp));
    assert_eq!(
        message,
        json!({"type": "private:message", "payload": {
            "from": a.id, "to": b.id, "text": "psst", "timestamp": timestamp,
        }})
    );
    a.expect_nothing_pending().await;
    c.expect_nothing_pending().await;
}

#[tokio::test]
async fn private_message_needs_no_shared_room() {
    let server = TestServer::start().await;
    let mut a = server.connect().await;
    let mut b = server.connect().await;
    a.send(ClientMessage::Private(PrivateSend {
        to: b.id.clone(),
        text: "hello stranger".into(),
    }))
    .await;
    let message = b.recv_type("private:message").await;
    assert_eq!(message["payload"]["from"], a.id.as_str());
    assert_eq!(message["payload"]["text"], "hello stranger");
}

#[tokio::test]
async fn private_message_to_an_unknown_client_is_refused_with_no_such_client() {
    let server = TestServer::start().await;
    let mut a = server.connect().await;
    let nobody = "9d2c0000-0000-4000-8000-000000000000";
    a.send(ClientMessage::Private(PrivateSend {
        to: nobody.into(),
        text: "anyone?".into(),
    }))
    .await;
    assert_eq!(
        a.recv().await,
        json!({"type": "error", "payload": {
            "message": format!("no client \"{nobody}\" is connected"),
            "code": "no_such_client",
        }})
    );
}

#[tokio::test]
async fn private_message_to_a_malformed_id_is_refused_with_no_such_client() {
    let server = TestServer::start().await;
    let mut a = server.connect().await;
    a.send(ClientMessage::Private(PrivateSend {
        to: "not-a-uuid".into(),
        text: "anyone?".into(),
    }))
    .await;
    assert_eq!(
        a.recv().await,
        json!({"type": "error", "payload": {
            "message": "no client \"not-a-uuid\" is connected",
            "code": "no_such_client",
        }})
    );
}

#[tokio::test]
async fn private_message_to_a_disconnected_client_is_refused() {
    let server = TestServer::start().await;
    let mut a = server.connect().await;
    let b = server.connect().await;
    let b_id = b.id.clone();
    b.close().await;
    // The server forgets the client once its connection task ends, just after the close.
    common::eventually("the server to forget the closed client", || {
        let server = &server;
        async move { server.metric("tether_connections").await == 1.0 }
    })
    .await;
    a.send_frame(
        ClientFrame::new(ClientMessage::Private(PrivateSend {
            to: b_id,
            text: "still there?".into(),
        }))
        .with_id(1),
    )
    .await;
    let ack = a.recv_type("ack").await;
    assert_eq!(ack["payload"]["ok"], false);
    assert_eq!(ack["payload"]["code"], "no_such_client");
}

#[tokio::test]
async fn json_ping_is_answered_with_json_pong() {
    let server = TestServer::start().await;
    let mut a = server.connect().await;
    a.send_text(r#"{"type":"ping"}"#).await;
    assert_eq!(a.recv_text().await, r#"{"type":"pong"}"#);
}

#[tokio::test]
async fn bare_text_ping_is_answered_with_bare_text_pong() {
    let server = TestServer::start().await;
    let mut a = server.connect().await;
    a.send_text("ping").await;
    assert_eq!(a.recv_text().await, "pong");
}

#[tokio::test]
async fn ping_with_a_null_payload_is_answered_with_pong() {
    let server = TestServer::start().await;
    let mut a = server.connect().await;
    a.send_text(r#"{"type":"ping","payload":null}"#).await;
    assert_eq!(a.recv().await, json!({"type": "pong"}));
}

#[tokio::test]
async fn ping_with_an_empty_payload_object_is_answered_with_pong() {
    // What the guide's `sendMessage(type, payload)` hook sends for `sendMessage('ping', {})`.
    let server = TestServer::start().await;
    let mut a = server.connect().await;
    a.send_text(r#"{"type":"ping","payload":{}}"#).await;
    assert_eq!(a.recv().await, json!({"type": "pong"}));
}

#[tokio::test]
async fn numeric_request_id_is_acked_after_the_reply() {
    let server = TestServer::start().await;
    let mut a = server.connect().await;
    a.send_frame(ClientFrame::new(ClientMessage::Join(JoinRoom::new("r"))).with_id(7))
        .await;
    assert_eq!(
        history_fields_removed(&a.recv().await, &["epoch", "seq"]),
        json!({"type": "joined", "payload": {"roomId": "r", "members": 1}})
    );
    assert_eq!(
        a.recv().await,
        json!({"type": "ack", "payload": {"id": 7, "ok": true}})
    );
}

#[tokio::test]
async fn string_request_id_is_acked_in_its_own_form() {
    let server = TestServer::start().await;
    let [mut a, mut b] = <[Client; 2]>::try_from(room_of(&server, "r", 2).await).unwrap();
    a.send_text(r#"{"type":"message","payload":{"roomId":"r","text":"Hello!"},"id":"m-1"}"#)
        .await;
    let ack = a.recv().await;
    assert_eq!(ack["payload"]["seq"], 1, "the room's first message");
    assert_eq!(
        history_fields_removed(&ack, &["epoch", "seq"]),
        json!({"type": "ack", "payload": {"id": "m-1", "ok": true}})
    );
    assert_eq!(b.recv().await["payload"]["text"], "Hello!");
}

#[tokio::test]
async fn ping_with_an_id_gets_pong_then_ack() {
    let server = TestServer::start().await;
    let mut a = server.connect().await;
    a.send_text(r#"{"type":"ping","id":0}"#).await;
    assert_eq!(a.recv().await, json!({"type": "pong"}));
    assert_eq!(
        a.recv().await,
        json!({"type": "ack", "payload": {"id": 0, "ok": true}})
    );
}

#[tokio::test]
async fn refused_request_gets_a_failed_ack_instead_of_an_error() {
    let server = TestServer::start().await;
    let mut a = server.connect().await;
    a.send_text(r#"{"type":"message","payload":{"roomId":"nowhere","text":"Hello!"},"id":"m-8"}"#)
        .await;
    assert_eq!(
        a.recv().await,
        json!({"type": "ack", "payload": {
            "id": "m-8", "ok": false,
            "error": "not in room \"nowhere\"", "code": "not_in_room",
        }})
    );
    // No separate `error` follows the failed ack.
    a.expect_nothing_pending().await;
}

#[tokio::test]
async fn fifty_clients_in_one_room_all_receive_a_broadcast() {
    let server = TestServer::start().await;
    let mut clients = room_of(&server, "big", 50).await;
    let mut sender = clients.pop().expect("fifty clients");
    sender
        .send_frame(
            ClientFrame::new(ClientMessage::Message(tether_protocol::SendText::new(
                "big",
                "to everyone",
            )))
            .with_id(1),
        )
        .await;
    sender.recv_type("ack").await;
    for client in &mut clients {
        let message = client.recv_type("message").await;
        assert_eq!(message["payload"]["from"], sender.id.as_str());
        assert_eq!(message["payload"]["text"], "to everyone");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_of_a_join_storm_sees_its_own_joined_before_the_rooms_events() {
    // Before the fix, a client that joined while others were joining could get one of their
    // `user:joined` ahead of its own `joined`: 0–9 clients in 1000 did, in the probe's runs.
    const CLIENTS: usize = 200;
    let server = TestServer::start().await;
    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        clients.push(server.connect().await);
    }
    let joins = clients.into_iter().map(|mut client| {
        tokio::spawn(async move {
            client
                .send(ClientMessage::Join(JoinRoom::new("storm")))
                .await;
            let first = client.recv().await;
            assert_eq!(first["type"], "joined", "first message after join: {first}");
            client
        })
    });
    for join in joins.collect::<Vec<_>>() {
        join.await.expect("the client saw its own joined first");
    }
}
