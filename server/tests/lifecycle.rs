//! A connection's life: heartbeats, room cleanup, and graceful shutdown.

mod common;

use common::{Client, TestServer, WAIT, config, room_of};
use futures_util::StreamExt;
use serde_json::json;
use std::time::Duration;
use tether_protocol::{ClientFrame, ClientMessage, JoinRoom, RoomRef, SendText};
use tokio::{
    task::JoinSet,
    time::{Instant, timeout, timeout_at},
};
use tokio_tungstenite::tungstenite::{
    Message,
    protocol::{CloseFrame, frame::coding::CloseCode},
};

const HEARTBEAT: Duration = Duration::from_millis(200);

#[tokio::test]
async fn a_client_that_answers_pings_stays_connected() {
    let server = TestServer::with(config().heartbeat_interval(HEARTBEAT)).await;
    let mut client = server.connect().await;
    // Five intervals; tungstenite answers each ping as it reads it.
    let until = Instant::now() + 5 * HEARTBEAT;
    let mut pings = 0;
    while let Ok(next) = timeout_at(until, client.ws.next()).await {
        match next {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => panic!("expected only pings, got {other:?}"),
        }
    }
    assert!(pings >= 3, "only {pings} pings in five intervals");
    client.expect_nothing_pending().await;
    assert_eq!(server.metric("tether_connections").await, 1.0);
}

#[tokio::test]
async fn a_client_that_stops_answering_pings_is_terminated_and_its_room_told() {
    let server = TestServer::with(config().heartbeat_interval(HEARTBEAT)).await;
    let mut watcher = server.connect().await;
    watcher.join("r").await;
    let connecting = Instant::now();
    let mut silent = server.connect().await;
    silent.join("r").await;
    watcher.recv_type("user:joined").await;
    // From here on `silent` is not read, so nothing answers the server's pings on its behalf.
    let left = watcher.recv_type("user:left").await;
    assert_eq!(
        left,
        json!({"type": "user:left", "payload": {"userId": silent.id, "roomId": "r"}})
    );
    let waited = connecting.elapsed();
    // The server's heartbeat ticks for every connection at once: the first ping comes at the
    // first tick after connecting, goes unanswered, and the next tick terminates, one interval
    // later.
    assert!(waited >= HEARTBEAT, "terminated after {waited:?}");
    // Terminated like the guide's `ws.terminate()`: the connection ends without a close frame.
    loop {
        match silent.next_message().await {
            Some(Ok(Message::Close(frame))) => panic!("expected no close frame, got {frame:?}"),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => break,
        }
    }
    server
        .wait_for_metric("tether_connections", |n| n == 1.0)
        .await;
}

#[tokio::test]
async fn a_websocket_ping_from_the_client_is_answered_with_its_pong() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    client
        .send_raw(Message::Ping(b"are you there".to_vec().into()))
        .await;
    let next = timeout(WAIT, client.ws.next())
        .await
        .expect("a pong in time");
    match next {
        Some(Ok(Message::Pong(payload))) => assert_eq!(&payload[..], b"are you there"),
        other => panic!("expected the pong, got {other:?}"),
    }
}

#[tokio::test]
async fn a_client_close_is_answered_with_the_same_code() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    client
        .send_raw(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        })))
        .await;
    client.expect_close(1000).await;
    server
        .wait_for_metric("tether_connections", |n| n == 0.0)
        .await;
}

#[tokio::test]
async fn the_last_member_leaving_deletes_the_room() {
    let server = TestServer::start().await;
    let mut a = server.connect().await;
    a.join("one").await;
    a.join("two").await;
    assert_eq!(server.metric("tether_rooms").await, 2.0);
    a.send(ClientMessage::Leave(RoomRef::new("one"))).await;
    a.expect_nothing_pending().await;
    assert_eq!(server.metric("tether_rooms").await, 1.0);
    a.close().await;
    server.wait_for_metric("tether_rooms", |n| n == 0.0).await;
}

#[tokio::test]
async fn a_room_outlives_its_first_member() {
    let server = TestServer::start().await;
    let [a, mut b] = <[Client; 2]>::try_from(room_of(&server, "r", 2).await).unwrap();
    a.close().await;
    b.recv_type("user:left").await;
    assert_eq!(server.metric("tether_rooms").await, 1.0);
    // The room still works for whoever is in it.
    let mut c = server.connect().await;
    assert_eq!(c.join("r").await["payload"]["members"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_connect_join_disconnect_cycles_leave_nothing_behind() {
    const CYCLES: usize = 1000;
    const CONCURRENT: usize = 50;
    let server = TestServer::start().await;
    let url = server.ws_url("");
    let mut running = JoinSet::new();
    for i in 0..CYCLES {
        if running.len() == CONCURRENT {
            running
                .join_next()
                .await
                .expect("a running cycle")
                .expect("cycle panicked");
        }
        let url = url.clone();
        running.spawn(async move {
            let (ws, _) = timeout(WAIT, tokio_tungstenite::connect_async(url))
                .await
                .expect("handshake timed out")
                .expect("handshake failed");
            let mut client = Client::accept(ws).await;
            // Shared rooms, so that leaving also tells others, and some private ones.
            let room = if i % 2 == 0 {
                format!("shared-{}", i % 10)
            } else {
                format!("own-{i}")
            };
            client.send(ClientMessage::Join(JoinRoom::new(&room))).await;
            client.recv_until("joined").await;
            if i % 3 == 0 {
                // Gone without a close handshake.
                drop(client);
            } else {
                client.close().await;
            }
        });
    }
    while let Some(cycle) = running.join_next().await {
        cycle.expect("cycle panicked");
    }
    server
        .wait_for_metric("tether_connections", |n| n == 0.0)
        .await;
    server.wait_for_metric("tether_rooms", |n| n == 0.0).await;
    assert_eq!(
        server.metric("tether_connections_accepted_total").await,
        CYCLES as f64
    );
}

#[tokio::test]
async fn shutdown_closes_every_client_with_1001_and_run_returns() {
    let mut server = TestServer::start().await;
    let mut clients = room_of(&server, "r", 3).await;
    clients.push(server.connect().await);
    let mut closing = JoinSet::new();
    for mut client in clients {
        closing.spawn(async move { client.expect_close(1001).await });
    }
    let started = Instant::now();
    server.begin_shutdown();
    server
        .stopped(Duration::from_secs(2))
        .await
        .expect("run returns Ok");
    // The clients answered the close at once, so nothing waited for the grace period.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    while let Some(closed) = closing.join_next().await {
        closed.expect("a client did not get 1001");
    }
}

#[tokio::test]
async fn shutdown_delivers_queued_messages_before_the_close() {
    let mut server = TestServer::start().await;
    let [mut a, mut b] = <[Client; 2]>::try_from(room_of(&server, "r", 2).await).unwrap();
    a.send_frame(
        ClientFrame::new(ClientMessage::Message(SendText::new("r", "last words"))).with_id(1),
    )
    .await;
    // Acked: queued for `b`, which has not read it yet.
    a.recv_type("ack").await;
    server.begin_shutdown();
    assert_eq!(
        b.recv_type("message").await["payload"]["text"],
        "last words"
    );
    b.expect_close(1001).await;
    a.expect_close(1001).await;
    server
        .stopped(Duration::from_secs(3))
        .await
        .expect("run returns Ok");
}

#[tokio::test]
async fn shutdown_stops_waiting_for_silent_clients_after_the_grace_period() {
    let grace = Duration::from_millis(300);
    let mut server = TestServer::with(config().shutdown_grace(grace)).await;
    // Never read, so it never answers the server's close frame.
    let _silent = server.connect().await;
    let started = Instant::now();
    server.begin_shutdown();
    server
        .stopped(Duration::from_secs(3))
        .await
        .expect("run returns Ok");
    let took = started.elapsed();
    // The server gives one unanswered close a full second on its own; the grace cuts that short.
    assert!(
        took >= grace && took < Duration::from_millis(900),
        "run returned after {took:?}"
    );
}

#[tokio::test]
async fn a_connection_during_shutdown_is_refused() {
    let mut server = TestServer::start().await;
    // Held open, and never answering the close, so the server stays in its grace period.
    let _lingering = server.connect().await;
    server.begin_shutdown();
    // Once shutdown began the listener stops accepting, so a new handshake fails outright.
    common::eventually("new connections to be refused", || {
        let url = server.ws_url("");
        async move { tokio_tungstenite::connect_async(url).await.is_err() }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_delivers_every_queued_message_in_order_to_a_backed_up_client() {
    const MESSAGES: usize = 3000;
    let mut server = TestServer::with(
        config()
            .max_queue_bytes(64 << 20)
            .shutdown_grace(Duration::from_secs(5))
            .unlimited_rates(),
    )
    .await;
    let mut sender = server.connect().await;
    sender.join("r").await;
    // Not read until shutdown began, so the server's writes to it block, mid-batch.
    let mut backed_up = server.connect_small_buffer().await;
    backed_up.join("r").await;
    sender.recv_type("user:joined").await;
    let padding = "x".repeat(4000);
    for i in 0..MESSAGES {
        let frame = ClientFrame::new(ClientMessage::Message(SendText::new(
            "r",
            format!("{i:05}{padding}"),
        )));
        let last = i + 1 == MESSAGES;
        sender
            .send_frame(if last { frame.with_id(1) } else { frame })
            .await;
    }
    // Acked: every message is queued for `backed_up`.
    sender.recv_type("ack").await;
    server.begin_shutdown();
    for i in 0..MESSAGES {
        let message = backed_up.recv_type("message").await;
        let text = message["payload"]["text"].as_str().expect("text");
        assert_eq!(&text[..5], format!("{i:05}"), "message {i} is missing");
    }
    backed_up.expect_close(1001).await;
}
