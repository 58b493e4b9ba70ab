//! One misbehaving client must not hurt the server or anyone else: each attack an independent
//! probe found, replayed over real sockets against the real server.

mod common;

use common::{
    Client, RawWs, TestServer, WAIT, config, eventually, raw_exchange, room_of, upgrade_request,
};
use serde_json::json;
use std::time::Duration;
use tether_protocol::{ClientFrame, ClientMessage, RoomRef, SendText};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::{Instant, sleep, timeout},
};

const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

// --- Before the upgrade -----------------------------------------------------------------------

/// Reads until the server closes the connection; how long that took.
async fn time_to_close(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut sink = [0u8; 1024];
    loop {
        match timeout(limit, stream.read(&mut sink)).await {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the server kept the connection open past {limit:?}"),
        }
    }
}

#[tokio::test]
async fn a_connection_that_never_sends_a_byte_is_closed_after_the_head_timeout() {
    let server = TestServer::with(config().request_head_timeout(Duration::from_millis(500))).await;
    let mut idle = TcpStream::connect(server.addr()).await.expect("connect");
    let closed_after = time_to_close(&mut idle, Duration::from_secs(5)).await;
    assert!(
        closed_after >= Duration::from_millis(400),
        "{closed_after:?}"
    );
    server
        .wait_for_metric("tether_request_head_timeouts_total", |n| n >= 1.0)
        .await;
}

#[tokio::test]
async fn a_request_head_sent_one_byte_at_a_time_is_cut_off() {
    let server = TestServer::with(config().request_head_timeout(Duration::from_millis(800))).await;
    let mut slow = TcpStream::connect(server.addr()).await.expect("connect");
    let request = upgrade_request(server.addr(), KEY);
    let started = Instant::now();
    for byte in request.as_bytes() {
        if slow.write_all(&[*byte]).await.is_err() {
            break;
        }
        if started.elapsed() > Duration::from_secs(5) {
            panic!("still sending after 5 s: the head timeout did not fire");
        }
        sleep(Duration::from_millis(50)).await;
    }
    time_to_close(&mut slow, Duration::from_secs(5)).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_oversized_request_head_gets_431_not_an_upgrade() {
    let server = TestServer::start().await;
    for size in [20_000, 100_000, 380_000] {
        let padding = format!("X-Padding: {}\r\n", "a".repeat(size));
        let request = upgrade_request(server.addr(), &format!("{KEY}{padding}"));
        let response = raw_exchange(server.addr(), request.as_bytes(), WAIT).await;
        let status = response.map(|r| r.status);
        assert_eq!(status, Some(431), "a {size}-byte header");
    }
    // A head within the limit still upgrades.
    let padding = format!("X-Padding: {}\r\n", "a".repeat(4000));
    let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
    let request = upgrade_request(server.addr(), &format!("{KEY}{padding}"));
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.expect("a response");
    assert_eq!(&head, b"HTTP/1.1 101");
    assert!(server.metric("tether_request_heads_too_large_total").await >= 3.0);
}

#[tokio::test]
async fn connections_past_the_per_address_limit_get_429_and_past_the_total_503() {
    let server = TestServer::with(config().max_connections_per_ip(3).max_connections(100)).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(server.connect().await);
    }
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr());
    let response = raw_exchange(server.addr(), request.as_bytes(), WAIT)
        .await
        .expect("an answer");
    assert_eq!(response.status, 429);
    assert_eq!(response.header("retry-after"), Some("1"));
    // A place frees when a connection closes.
    held.pop().expect("a client").close().await;
    eventually("the freed place is taken", || async {
        raw_exchange(server.addr(), request.as_bytes(), WAIT)
            .await
            .is_some_and(|r| r.status == 200)
    })
    .await;

    let full = TestServer::with(config().max_connections(2)).await;
    let _a = full.connect().await;
    let b = full.connect().await;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", full.addr());
    let response = raw_exchange(full.addr(), request.as_bytes(), WAIT)
        .await
        .expect("an answer");
    assert_eq!(response.status, 503);
    b.close().await;
    eventually("the metrics answer once a place is free", || async {
        raw_exchange(full.addr(), request.as_bytes(), WAIT)
            .await
            .is_some_and(|r| r.status == 200)
    })
    .await;
    assert!(full.metric("tether_connections_refused_full_total").await >= 1.0);
}

#[tokio::test]
async fn many_idle_connections_from_one_address_cost_a_bounded_number_of_places() {
    let server = TestServer::with(
        config()
            .max_connections_per_ip(50)
            .request_head_timeout(Duration::from_secs(1)),
    )
    .await;
    // From 127.0.0.2, so the test's own requests (from 127.0.0.1) are not refused with them.
    let mut idle = Vec::new();
    for _ in 0..200 {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind("127.0.0.2:0".parse().expect("an address"))
            .expect("bind 127.0.0.2");
        idle.push(socket.connect(server.addr()).await.expect("connect"));
    }
    server
        .wait_for_metric("tether_connections_refused_per_ip_total", |n| n >= 150.0)
        .await;
    // The 50 admitted, and the connection asking for the metric.
    assert!(server.metric("tether_tcp_connections").await <= 51.0);
    // After the head timeout, the 50 admitted are gone too (what is left is the metric's own).
    server
        .wait_for_metric("tether_tcp_connections", |n| n <= 1.0)
        .await;
}

#[tokio::test]
async fn shutdown_is_not_held_up_by_an_unfinished_request() {
    let mut server = TestServer::with(
        config()
            .shutdown_grace(Duration::from_millis(500))
            .request_head_timeout(Duration::from_secs(60)),
    )
    .await;
    let mut hung = TcpStream::connect(server.addr()).await.expect("connect");
    hung.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("half a head");
    let _client = server.connect().await;
    sleep(Duration::from_millis(100)).await;
    server.begin_shutdown();
    server
        .stopped(Duration::from_secs(3))
        .await
        .expect("stopped cleanly");
}

// --- The handshake ----------------------------------------------------------------------------

#[tokio::test]
async fn malformed_keys_and_hosts_get_400() {
    let server = TestServer::start().await;
    let addr = server.addr();
    let host = format!("Host: {addr}\r\n");
    let rest = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n";
    let cases = [
        (
            "a short key",
            format!("{host}{rest}Sec-WebSocket-Key: c2hvcnQ=\r\n"),
        ),
        (
            "a long key",
            format!(
                "{host}{rest}Sec-WebSocket-Key: dGhpcyBrZXkgaXMgZmFyIHRvbyBsb25nIHRvIGJlIG9uZQ==\r\n"
            ),
        ),
        (
            "a key that is not base64",
            format!("{host}{rest}Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\n"),
        ),
        ("two keys", format!("{host}{rest}{KEY}{KEY}")),
        ("no Host", format!("{rest}{KEY}")),
        (
            "two Hosts",
            format!("{host}Host: evil.example\r\n{rest}{KEY}"),
        ),
    ];
    for (what, headers) in cases {
        let request = format!("GET /ws HTTP/1.1\r\n{headers}\r\n");
        let response = raw_exchange(addr, request.as_bytes(), WAIT).await;
        assert_eq!(response.map(|r| r.status), Some(400), "{what}");
    }
}

#[tokio::test]
async fn two_origin_headers_are_refused_whichever_comes_first() {
    let server = TestServer::with(config().allow_origin("https://chat.example")).await;
    for (first, second) in [
        ("https://chat.example", "http://evil.example"),
        ("http://evil.example", "https://chat.example"),
    ] {
        let extra = format!("{KEY}Origin: {first}\r\nOrigin: {second}\r\n");
        let request = upgrade_request(server.addr(), &extra);
        let response = raw_exchange(server.addr(), request.as_bytes(), WAIT).await;
        assert_eq!(
            response.map(|r| r.status),
            Some(403),
            "{first} then {second}"
        );
    }
}

// --- Frames and messages ----------------------------------------------------------------------

#[tokio::test]
async fn a_length_in_a_longer_encoding_than_needed_closes_with_1002() {
    let server = TestServer::start().await;
    let ping = br#"{"type":"ping"}"#;
    // 16-bit and 64-bit encodings of a 15-byte length, masked with a zero key.
    let mut sixteen = vec![0x81, 0x80 | 126];
    sixteen.extend_from_slice(&(ping.len() as u16).to_be_bytes());
    let mut sixty_four = vec![0x81, 0x80 | 127];
    sixty_four.extend_from_slice(&(ping.len() as u64).to_be_bytes());
    for mut frame in [sixteen, sixty_four] {
        frame.extend_from_slice(&[0, 0, 0, 0]);
        frame.extend_from_slice(ping);
        let mut raw = RawWs::connect(server.addr()).await;
        let (_, connected) = raw.read_frame().await.expect("connected");
        assert!(String::from_utf8_lossy(&connected).contains("connected"));
        raw.send_bytes(&frame).await.expect("sent");
        raw.expect_close(1002).await;
    }
}

#[tokio::test]
async fn a_payload_that_is_an_array_is_refused_not_read_as_an_object() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    client
        .send_text(r#"{"type":"join","payload":["x"],"id":1}"#)
        .await;
    let ack = client.recv_type("ack").await;
    assert_eq!(ack["payload"]["ok"], false);
    assert_eq!(ack["payload"]["code"], "invalid_payload");
    client
        .send(ClientMessage::Presence(RoomRef::new("x")))
        .await;
    assert_eq!(
        client.recv_type("error").await["payload"]["code"],
        "not_in_room"
    );
}

#[tokio::test]
async fn names_with_hidden_or_direction_changing_characters_are_refused() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    for name in [
        "admin\u{202E}",
        "bo\u{200B}b",
        "\u{2067}eve\u{2069}",
        "\u{3164}",
    ] {
        client
            .send_json(json!({"type": "identify", "payload": {"name": name}, "id": 1}))
            .await;
        let ack = client.recv_type("ack").await;
        assert_eq!(ack["payload"]["code"], "invalid_payload", "{name:?}");
    }
    client
        .send_json(json!({"type": "identify", "payload": {"name": "Bob 👩‍💻"}, "id": 2}))
        .await;
    assert_eq!(client.recv_type("ack").await["payload"]["ok"], true);
}

// --- Presence ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_presence_answer_is_cut_to_fit_and_says_how_many_there_are() {
    // 300 members' entries take about 15 KB: more than the asker's 12 KiB queue holds.
    let server = TestServer::with(
        config()
            .max_queue_bytes(12 * 1024)
            .max_presence_members(100)
            .join_rate(0),
    )
    .await;
    let mut members = room_of(&server, "big", 300).await;
    let asker = members.last_mut().expect("a member");
    asker
        .send(ClientMessage::Presence(RoomRef::new("big")))
        .await;
    let presence = asker.recv_until("presence").await;
    assert_eq!(
        presence["payload"]["members"].as_array().map(Vec::len),
        Some(100)
    );
    assert_eq!(presence["payload"]["total"], 300);
    asker.expect_nothing_pending().await;
    assert_eq!(
        server.metric("tether_slow_consumer_closes_total").await,
        0.0
    );
}

// --- Rates and floods -------------------------------------------------------------------------

#[tokio::test]
async fn over_its_rate_a_message_is_refused_with_when_to_retry_and_the_client_stays() {
    let server = TestServer::with(config().message_rate(5).message_burst(5)).await;
    let mut client = server.connect().await;
    client.join("r").await;
    for id in 0..5 {
        client.send_frame(say("r", "hi").with_id(id)).await;
        assert_eq!(client.recv_type("ack").await["payload"]["ok"], true);
    }
    client.send_frame(say("r", "one too many").with_id(5)).await;
    let ack = client.recv_type("ack").await["payload"].clone();
    assert_eq!(ack["code"], "rate_limited");
    let wait = ack["retryAfterMs"].as_u64().expect("retryAfterMs");
    assert!((1..=200).contains(&wait), "{wait}");
    sleep(Duration::from_millis(wait)).await;
    client
        .send_frame(say("r", "after waiting").with_id(6))
        .await;
    assert_eq!(client.recv_type("ack").await["payload"]["ok"], true);
}

#[tokio::test]
async fn typing_over_its_rate_is_dropped_silently() {
    let server = TestServer::with(config().typing_rate(1).typing_burst(2)).await;
    let mut typist = server.connect().await;
    let mut watcher = server.connect().await;
    typist.join("r").await;
    watcher.join("r").await;
    typist.recv_type("user:joined").await;
    for _ in 0..10 {
        typist.send(ClientMessage::Typing(RoomRef::new("r"))).await;
    }
    typist.expect_nothing_pending().await;
    for _ in 0..2 {
        watcher.recv_type("typing").await;
    }
    watcher.expect_nothing_pending().await;
    assert_eq!(server.metric("tether_typing_over_rate_total").await, 8.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooder_is_throttled_then_closed_and_nobody_else_is_hurt() {
    let server = TestServer::start().await;
    let mut flooder = server.connect_small_buffer().await;
    flooder.join("room").await;
    let mut members: Vec<Client> = Vec::new();
    for _ in 0..5 {
        let mut member = server.connect().await;
        member.join("room").await;
        members.push(member);
    }
    // As fast as the socket takes them, never reading, for at most 10 s.
    let text = "x".repeat(1000);
    let started = Instant::now();
    let mut sent = 0u64;
    while started.elapsed() < Duration::from_secs(10) {
        let frame = say("room", &text);
        let json = serde_json::to_string(&frame).expect("json");
        match timeout(Duration::from_secs(1), flooder.try_send_text(&json)).await {
            Ok(Ok(())) => sent += 1,
            _ => break,
        }
    }
    assert!(sent >= 400, "only {sent} sent");
    server
        .wait_for_metric("tether_flood_closes_total", |n| n == 1.0)
        .await;
    assert!(server.metric("tether_messages_rate_limited_total").await >= 200.0);
    assert_eq!(
        server.metric("tether_slow_consumer_closes_total").await,
        0.0
    );
    // Every member is still connected and hears the others, after what the flooder was
    // allowed to say.
    members[0].say("room", "still here").await;
    for member in &mut members[1..] {
        recv_chat(member, "still here").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooder_that_reconnects_after_every_close_gets_no_fresh_budget() {
    let server =
        TestServer::with(config().address_message_rate(50).address_message_burst(300)).await;
    let mut member = server.connect().await;
    member.join("room").await;
    let started = Instant::now();
    let mut accepted = 0u64;
    let mut connections = 0;
    // Reconnect after every close, for 3 s, and send as fast as the socket takes it.
    while started.elapsed() < Duration::from_secs(3) {
        let Ok(Ok((ws, _))) =
            timeout(WAIT, tokio_tungstenite::connect_async(server.ws_url(""))).await
        else {
            continue;
        };
        connections += 1;
        let mut flooder = Client::accept(ws).await;
        flooder.join("room").await;
        for i in 0..400 {
            let frame = say("room", "flood").with_id(i);
            if flooder
                .try_send_text(&serde_json::to_string(&frame).expect("json"))
                .await
                .is_err()
            {
                break;
            }
        }
        // Count what it was allowed until the server closes it (or has nothing more to say).
        while let Ok(Some(Ok(message))) =
            timeout(Duration::from_millis(500), flooder.next_message()).await
        {
            if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
                let value: serde_json::Value = serde_json::from_str(text.as_str()).expect("json");
                if value["type"] == "ack" && value["payload"]["ok"] == true {
                    accepted += 1;
                }
            }
        }
    }
    assert!(connections >= 3, "it reconnected {connections} times");
    // The address's budget: its burst and 50/s for 3 s, whatever the number of connections;
    // without it, every connection would get a fresh 300.
    let allowed = 300 + 50 * 4;
    assert!(
        accepted <= allowed,
        "{accepted} messages taken over {connections} connections, budget {allowed}"
    );
    member.say("room", "still here").await;
    assert_eq!(
        server.metric("tether_slow_consumer_closes_total").await,
        0.0
    );
}

#[tokio::test]
async fn an_address_that_opens_connections_too_fast_gets_429() {
    let server = TestServer::with(config().address_connect_rate(1).address_connect_burst(5)).await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(server.connect().await);
    }
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr());
    let response = raw_exchange(server.addr(), request.as_bytes(), WAIT)
        .await
        .expect("an answer");
    assert_eq!(response.status, 429);
    // The scrape is a connection too: once the budget has refilled, it is answered.
    let scrape = format!("GET /metrics HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr());
    let deadline = Instant::now() + WAIT;
    let metrics = loop {
        let response = raw_exchange(server.addr(), scrape.as_bytes(), WAIT)
            .await
            .expect("an answer");
        if response.status == 200 {
            break response.text();
        }
        assert!(Instant::now() < deadline, "still refused");
        sleep(Duration::from_millis(200)).await;
    };
    let refused = common::metric_value(&metrics, "tether_connections_refused_connect_rate_total");
    assert!(refused.is_some_and(|n| n >= 1.0), "{metrics}");
}

#[tokio::test]
async fn a_websocket_ping_flood_is_closed_with_1008() {
    let server = TestServer::start().await;
    let mut raw = RawWs::connect_small_buffer(server.addr()).await;
    let ping = masked_ping(125);
    let mut sent = 0;
    while sent < 100_000 && raw.send_bytes(&ping).await.is_ok() {
        sent += 1;
        if sent % 1000 == 0 && server.metric("tether_flood_closes_total").await == 1.0 {
            break;
        }
    }
    server
        .wait_for_metric("tether_flood_closes_total", |n| n == 1.0)
        .await;
}

/// A masked ping frame with `len` bytes of payload.
fn masked_ping(len: u8) -> Vec<u8> {
    let mut frame = vec![0x89, 0x80 | len, 1, 2, 3, 4];
    frame.extend(std::iter::repeat_n(b'p' ^ 1, usize::from(len)));
    frame
}

// --- Closing a slow consumer ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_reads_a_whole_1013_close_frame_at_the_end_of_its_stream() {
    for attempt in 0..5 {
        let server = TestServer::with(config().unlimited_rates().max_queue_bytes(32 * 1024)).await;
        let mut sender = server.connect().await;
        sender.join("r").await;
        let mut slow = RawWs::connect_small_buffer(server.addr()).await;
        let join = br#"{"type":"join","payload":{"roomId":"r"}}"#;
        let mut frame = vec![0x81, 0x80 | join.len() as u8, 0, 0, 0, 0];
        frame.extend_from_slice(join);
        slow.send_bytes(&frame).await.expect("join");
        sender.recv_type("user:joined").await;
        // Large messages, so the overflow comes mid-frame more often than not.
        let text = "y".repeat(7000);
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.metric("tether_slow_consumer_closes_total").await == 0.0 {
            assert!(
                Instant::now() < deadline,
                "attempt {attempt}: no slow-consumer close"
            );
            for _ in 0..20 {
                sender.send_frame(say("r", &text)).await;
            }
        }
        // Every frame the slow client reads parses, and the last is a close with 1013.
        slow.expect_close(1013).await;
    }
}

fn say(room: &str, text: &str) -> ClientFrame {
    ClientFrame::new(ClientMessage::Message(SendText::new(room, text)))
}

/// Reads `client`'s messages until a chat with `text`.
async fn recv_chat(client: &mut Client, text: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "no message {text:?}");
        let message = client.recv_until("message").await;
        if message["payload"]["text"] == text {
            return;
        }
    }
}
