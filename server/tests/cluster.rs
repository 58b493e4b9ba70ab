//! Several nodes on one Redis (`--redis`): rooms, history and resume across nodes, against a
//! real `redis-server` started on a free port (never 6379), killed and restarted by the tests.

mod common;

use common::{Client, TestServer, config, free_port, redis::Redis};
use serde_json::{Value, json};
use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};
use tokio::time::{Instant, sleep};
use tokio_tungstenite::tungstenite::Message;

async fn node(redis: &Redis) -> TestServer {
    TestServer::with(config().redis(redis.url())).await
}

async fn say_acked(client: &mut Client, room: &str, text: &str) -> Value {
    client
        .send_json(json!({"type": "message", "payload": {"roomId": room, "text": text, "cid": text}, "id": text}))
        .await;
    let ack = client.recv_until("ack").await;
    ack["payload"].clone()
}

async fn next_chat(client: &mut Client) -> (u64, String) {
    let message = client.recv_until("message").await;
    let payload = &message["payload"];
    (
        payload["seq"].as_u64().expect("a seq"),
        payload["text"].as_str().expect("a text").to_owned(),
    )
}

#[tokio::test]
async fn clients_on_different_nodes_chat_in_one_room_in_order() {
    let redis = Redis::start().await;
    let (one, two) = (node(&redis).await, node(&redis).await);
    let mut alice = one.connect().await;
    let mut bob = two.connect().await;
    alice.join("r").await;
    bob.join("r").await;
    assert_eq!(
        alice.recv_until("user:joined").await["payload"]["userId"],
        bob.id
    );

    let ack = say_acked(&mut alice, "r", "hello from one").await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(ack["seq"], 1);
    assert_eq!(next_chat(&mut bob).await, (1, "hello from one".into()));
    let ack = say_acked(&mut bob, "r", "hello from two").await;
    assert_eq!(ack["seq"], 2);
    assert_eq!(next_chat(&mut alice).await, (2, "hello from two".into()));

    // Many from both sides: each sees the other's in seq order, none twice, none missing.
    for i in 0..50 {
        alice
            .send_json(
                json!({"type": "message", "payload": {"roomId": "r", "text": format!("a{i}")}}),
            )
            .await;
        bob.send_json(
            json!({"type": "message", "payload": {"roomId": "r", "text": format!("b{i}")}}),
        )
        .await;
    }
    let (mut from_bob, mut from_alice) = (Vec::new(), Vec::new());
    let mut last = 2;
    while from_bob.len() < 50 {
        let (seq, text) = next_chat(&mut alice).await;
        assert!(seq > last, "in order: {seq} after {last}");
        last = seq;
        from_bob.push(text);
    }
    last = 2;
    while from_alice.len() < 50 {
        let (seq, text) = next_chat(&mut bob).await;
        assert!(seq > last, "in order: {seq} after {last}");
        last = seq;
        from_alice.push(text);
    }
    assert_eq!(
        from_bob,
        (0..50).map(|i| format!("b{i}")).collect::<Vec<_>>()
    );
    assert_eq!(
        from_alice,
        (0..50).map(|i| format!("a{i}")).collect::<Vec<_>>()
    );
    // The duplicate of a cid is known on every node.
    let again = say_acked(&mut bob, "r", "hello from one").await;
    assert_eq!(
        (again["seq"].clone(), again["duplicate"].clone()),
        (json!(1), json!(true))
    );
}

#[tokio::test]
async fn a_client_resumes_on_another_node_with_what_it_missed() {
    let redis = Redis::start().await;
    let (one, two) = (node(&redis).await, node(&redis).await);
    let mut alice = one.connect().await;
    let joined = alice.join("r").await;
    let epoch = joined["payload"]["epoch"].clone();
    let mut bob = two.connect().await;
    bob.join("r").await;
    say_acked(&mut bob, "r", "before").await;
    assert_eq!(next_chat(&mut alice).await.0, 1);
    let (id, token) = (
        alice.id.clone(),
        alice.resume_token.clone().expect("a token"),
    );
    alice.close().await;
    for text in ["missed 1", "missed 2"] {
        say_acked(&mut bob, "r", text).await;
    }
    // Back, on the other node, with the token the first node signed.
    let mut alice = Client::accept(two.open(&format!("resume={token}")).await).await;
    assert_eq!(alice.id, id, "the same client id on another node");
    alice
        .send_json(json!({"type": "join", "payload": {"roomId": "r", "since": {"epoch": epoch, "seq": 1}}}))
        .await;
    let joined = alice.recv_until("joined").await;
    assert_eq!(joined["payload"]["recovered"], true, "{joined}");
    assert_eq!(next_chat(&mut alice).await, (2, "missed 1".into()));
    assert_eq!(next_chat(&mut alice).await, (3, "missed 2".into()));
    say_acked(&mut bob, "r", "live").await;
    assert_eq!(next_chat(&mut alice).await, (4, "live".into()));
}

#[tokio::test]
async fn a_lost_subscription_is_caught_up() {
    let redis = Redis::start().await;
    let (one, two) = (node(&redis).await, node(&redis).await);
    let mut alice = one.connect().await;
    alice.join("r").await;
    let mut bob = two.connect().await;
    bob.join("r").await;
    say_acked(&mut bob, "r", "first").await;
    assert_eq!(next_chat(&mut alice).await.0, 1);
    // Every node's pub/sub connection cut: what is published meanwhile is lost to pub/sub.
    let killed = redis.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    assert_ne!(killed, "0", "the nodes' subscriptions were killed");
    for text in ["during 1", "during 2", "during 3"] {
        assert_eq!(say_acked(&mut bob, "r", text).await["ok"], true);
    }
    let got = [
        next_chat(&mut alice).await,
        next_chat(&mut alice).await,
        next_chat(&mut alice).await,
    ];
    assert_eq!(
        got.map(|(seq, _)| seq),
        [2, 3, 4],
        "every message, in order, once"
    );
}

#[tokio::test]
async fn redis_down_refuses_messages_and_keeps_connections_and_history() {
    let mut redis = Redis::start().await;
    let (one, two) = (node(&redis).await, node(&redis).await);
    let mut alice = one.connect().await;
    let joined = alice.join("r").await;
    let epoch = joined["payload"]["epoch"].clone();
    let mut bob = two.connect().await;
    bob.join("r").await;
    say_acked(&mut bob, "r", "kept").await;
    assert_eq!(next_chat(&mut alice).await.0, 1);

    redis.kill();
    let refused = say_acked(&mut bob, "r", "refused").await;
    assert_eq!(refused["ok"], false, "{refused}");
    assert_eq!(refused["code"], "unavailable", "{refused}");

    // Back, with its append-only file: the same history and epoch; the nodes reconnect.
    redis.restart().await;
    assert!(redis.data().join("appendonlydir").exists());
    let deadline = Instant::now() + Duration::from_secs(10);
    let ack = loop {
        let ack = say_acked(&mut bob, "r", "after").await;
        if ack["ok"] == true {
            break ack;
        }
        assert!(
            Instant::now() < deadline,
            "the node did not reconnect: {ack}"
        );
        sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(ack["seq"], 2);
    assert_eq!(ack["epoch"], epoch, "nothing was lost: the same epoch");
    assert_eq!(next_chat(&mut alice).await, (2, "after".into()));
}

#[tokio::test]
async fn a_flushed_redis_is_a_new_epoch_and_resumes_are_not_recovered() {
    let redis = Redis::start().await;
    let one = node(&redis).await;
    let mut alice = one.connect().await;
    let joined = alice.join("r").await;
    let epoch = joined["payload"]["epoch"].clone();
    say_acked(&mut alice, "r", "gone").await;
    alice.close().await;
    assert_eq!(redis.cli(&["FLUSHALL"]), "OK");
    let mut alice = one.connect().await;
    alice
        .send_json(json!({"type": "join", "payload": {"roomId": "r", "since": {"epoch": epoch, "seq": 1}}}))
        .await;
    let joined = alice.recv_until("joined").await;
    assert_eq!(joined["payload"]["recovered"], false, "{joined}");
    assert_ne!(joined["payload"]["epoch"], epoch);
}

#[tokio::test]
async fn a_rooms_stream_keeps_at_least_the_messages_asked_for_and_about_a_node_more() {
    let redis = Redis::start().await;
    let one = TestServer::with(
        config()
            .redis(redis.url())
            .unlimited_rates()
            .history_messages(150),
    )
    .await;
    let mut alice = one.connect().await;
    alice.join("r").await;
    for i in 0..500 {
        alice
            .send_json(json!({"type": "message", "payload": {"roomId": "r", "text": format!("{i}")}, "id": i}))
            .await;
    }
    let mut acked = 0;
    while acked < 500 {
        if alice.recv().await["type"] == "ack" {
            acked += 1;
        }
    }
    // Trimmed a stream node (100 entries) at a time, never below the 150 kept.
    let kept: usize = redis
        .cli(&["XLEN", "tether:{r}:log"])
        .parse()
        .expect("XLEN");
    assert!((150..=250).contains(&kept), "{kept} kept");
}

/// The ids a `presence` answer lists, sorted.
async fn presence(client: &mut Client, room: &str) -> Vec<String> {
    client
        .send_json(json!({"type": "presence", "payload": {"roomId": room}}))
        .await;
    let answer = client.recv_until("presence").await;
    let mut ids: Vec<String> = answer["payload"]["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["userId"].as_str().expect("an id").to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn presence_joins_leaves_and_private_messages_span_the_nodes() {
    let redis = Redis::start().await;
    let (one, two) = (node(&redis).await, node(&redis).await);
    let mut alice = one.connect().await;
    alice
        .send_json(json!({"type": "identify", "payload": {"name": "Alice"}}))
        .await;
    alice.join("r").await;
    let mut bob = two.connect().await;
    bob.join("r").await;
    let joined = alice.recv_until("user:joined").await;
    assert_eq!(joined["payload"]["userId"], bob.id);

    let mut both = vec![alice.id.clone(), bob.id.clone()];
    both.sort();
    assert_eq!(
        presence(&mut alice, "r").await,
        both,
        "the same from node one"
    );
    assert_eq!(presence(&mut bob, "r").await, both, "and from node two");
    bob.send_json(json!({"type": "presence", "payload": {"roomId": "r"}}))
        .await;
    let answer = bob.recv_until("presence").await;
    let named = answer["payload"]["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["userId"] == alice.id)
        .cloned()
        .expect("alice listed");
    assert_eq!(named["name"], "Alice", "names cross nodes too");

    // A private message to a client on the other node, acked; to nobody, refused.
    bob.send_json(
        json!({"type": "private:message", "payload": {"to": alice.id, "text": "psst"}, "id": "p1"}),
    )
    .await;
    let ack = bob.recv_until("ack").await;
    assert_eq!(ack["payload"]["ok"], true, "{ack}");
    let private = alice.recv_until("private:message").await;
    assert_eq!(
        (
            private["payload"]["from"].clone(),
            private["payload"]["text"].clone()
        ),
        (json!(bob.id), json!("psst"))
    );
    let nobody = "00000000000000000000000000000000";
    bob.send_json(
        json!({"type": "private:message", "payload": {"to": nobody, "text": "?"}, "id": "p2"}),
    )
    .await;
    let ack = bob.recv_until("ack").await;
    assert_eq!(ack["payload"]["code"], "no_such_client", "{ack}");

    let bob_id = bob.id.clone();
    bob.close().await;
    let left = alice.recv_until("user:left").await;
    assert_eq!(left["payload"]["userId"], bob_id);
    assert_eq!(presence(&mut alice, "r").await, vec![alice.id.clone()]);
}

#[tokio::test]
async fn coming_back_on_another_node_within_the_grace_is_not_a_leave() {
    let redis = Redis::start().await;
    let grace = config()
        .redis(redis.url())
        .rejoin_grace(Duration::from_millis(600));
    let one = TestServer::with(grace.clone()).await;
    let two = TestServer::with(grace).await;
    let mut alice = one.connect().await;
    alice.join("r").await;
    let mut bob = one.connect().await;
    bob.join("r").await;
    alice.recv_until("user:joined").await;
    let (id, token) = (bob.id.clone(), bob.resume_token.clone().expect("a token"));
    drop(bob);
    // Bob's connection drops; he is back on the other node before the grace ends.
    let mut bob = Client::accept(two.open(&format!("resume={token}")).await).await;
    assert_eq!(bob.id, id);
    bob.join("r").await;
    sleep(Duration::from_millis(1200)).await;
    say_acked(&mut bob, "r", "still here").await;
    let next = alice.recv().await;
    assert_eq!(
        next["type"], "message",
        "no user:left or user:joined for Bob: {next}"
    );
    let mut both = vec![alice.id.clone(), id];
    both.sort();
    assert_eq!(presence(&mut alice, "r").await, both);
}

/// `tether-server --redis`, a process of its own, to be killed.
struct Node {
    port: u16,
    child: Child,
}

impl Node {
    async fn spawn(redis: &Redis) -> Self {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_tether-server"))
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .args(["--redis", &redis.url()])
            .args(["--static-dir", "/nonexistent/tether-test-dist"])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .expect("tether-server starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the node did not start");
            sleep(Duration::from_millis(20)).await;
        }
        Self { port, child }
    }

    async fn connect(&self) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/ws", self.port))
            .await
            .expect("connects");
        Client::accept(ws).await
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_crashed_nodes_members_leave_by_themselves() {
    let redis = Redis::start().await;
    let one = node(&redis).await;
    let mut crashing = Node::spawn(&redis).await;
    let mut alice = one.connect().await;
    alice.join("r").await;
    let mut bob = crashing.connect().await;
    bob.join("r").await;
    alice.recv_until("user:joined").await;
    let mut both = vec![alice.id.clone(), bob.id.clone()];
    both.sort();
    assert_eq!(presence(&mut alice, "r").await, both);

    crashing.child.kill().expect("SIGKILL");
    crashing.child.wait().expect("reaped");
    // Its word runs out after 6 s, and a node clears it within 2 s more: Bob is no longer
    // listed, and the room is told he left, once.
    let deadline = Instant::now() + Duration::from_secs(12);
    let (mut listed, mut left) = (both.clone(), 0);
    while listed.len() > 1 || left == 0 {
        assert!(
            Instant::now() < deadline,
            "still listed: {listed:?}, user:left {left} times"
        );
        sleep(Duration::from_millis(500)).await;
        alice
            .send_json(json!({"type": "presence", "payload": {"roomId": "r"}}))
            .await;
        loop {
            let message = alice.recv().await;
            match message["type"].as_str() {
                Some("user:left") => {
                    assert_eq!(message["payload"]["userId"], bob.id);
                    left += 1;
                }
                Some("presence") => {
                    listed = message["payload"]["members"]
                        .as_array()
                        .expect("members")
                        .iter()
                        .map(|m| m["userId"].as_str().expect("an id").to_owned())
                        .collect();
                    break;
                }
                _ => {}
            }
        }
    }
    assert_eq!(listed, vec![alice.id.clone()]);
    assert_eq!(left, 1);
}

#[tokio::test]
async fn a_large_rooms_presence_lists_the_first_and_counts_all_across_nodes() {
    let redis = Redis::start().await;
    let small = config().redis(redis.url()).max_presence_members(3);
    let (one, two) = (
        TestServer::with(small.clone()).await,
        TestServer::with(small).await,
    );
    let mut clients = Vec::new();
    for i in 0..7 {
        let mut client = if i % 2 == 0 {
            one.connect().await
        } else {
            two.connect().await
        };
        client.join("big").await;
        clients.push(client);
    }
    let asker = &mut clients[0];
    // Presence is written as the joins are announced: wait for the last one.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        asker
            .send_json(json!({"type": "presence", "payload": {"roomId": "big"}}))
            .await;
        let answer = asker.recv_until("presence").await;
        if answer["payload"]["total"] == 7 {
            assert_eq!(
                answer["payload"]["members"].as_array().map(Vec::len),
                Some(3)
            );
            break;
        }
        assert!(Instant::now() < deadline, "{answer}");
        sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_clients_messages_are_numbered_in_the_order_it_sent_them() {
    let redis = Redis::start().await;
    let fast = config().redis(redis.url()).unlimited_rates();
    let (one, two) = (
        TestServer::with(fast.clone()).await,
        TestServer::with(fast).await,
    );
    let mut reader = two.connect().await;
    let mut writer = one.connect().await;
    for round in 0..5 {
        let room = format!("order{round}");
        // (The writer's `user:joined` of the last round may still come: skipped.)
        reader
            .send_json(json!({"type": "join", "payload": {"roomId": room}}))
            .await;
        reader.recv_until("joined").await;
        // Sent right behind the join, without waiting for anything.
        writer
            .send_json(json!({"type": "join", "payload": {"roomId": room, "since": {"epoch": "", "seq": 0}}}))
            .await;
        for i in 0..100 {
            writer
                .send_json(json!({"type": "message", "payload": {"roomId": room, "text": format!("{i}")}, "id": i}))
                .await;
            if round == 2 && i % 10 == 5 {
                // Redis forgets the append script between (or inside) pipelines of appends.
                assert_eq!(redis.cli(&["SCRIPT", "FLUSH"]), "OK");
            }
        }
        let mut seqs = vec![0; 100];
        let mut acked = 0;
        while acked < 100 {
            let message = writer.recv().await;
            if message["type"] == "ack" && message["payload"]["id"].is_u64() {
                let i = message["payload"]["id"].as_u64().expect("an id") as usize;
                seqs[i] = message["payload"]["seq"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("an ack with a seq: {message}"));
                acked += 1;
            }
        }
        assert_eq!(seqs, (1..=100).collect::<Vec<u64>>(), "round {round}");
        for i in 0..100u64 {
            assert_eq!(next_chat(&mut reader).await, (i + 1, format!("{i}")));
        }
    }
}

/// A token for `user` signed with the secret the auth test nodes share.
fn token(user: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        + 3600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": user, "exp": exp, "name": user.to_uppercase()}),
        &jsonwebtoken::EncodingKey::from_secret(b"cluster-secret").expect("a key"),
    )
    .expect("signed")
}

#[tokio::test]
async fn a_development_token_from_one_node_is_good_on_every_node() {
    let redis = Redis::start().await;
    let dev = config().redis(redis.url()).dev_issue_tokens(true);
    let (one, two) = (
        TestServer::with(dev.clone()).await,
        TestServer::with(dev).await,
    );
    let issued = one.post("/dev/token", r#"{"name":"Ada"}"#).await;
    assert_eq!(issued.status, 200, "{}", issued.text());
    let issued: Value = serde_json::from_str(&issued.text()).expect("JSON");
    let token = issued["token"].as_str().expect("a token");
    // Signed with the secret the nodes share in Redis: node two takes it.
    let mut ada = Client::accept(two.open(&format!("token={token}")).await).await;
    ada.join("r").await;
    let posted = say_acked(&mut ada, "r", "hello").await;
    assert!(posted["seq"].is_u64(), "{posted}");
    assert_eq!(
        presence(&mut ada, "r").await,
        [issued["userId"].as_str().expect("a user id")]
    );
}

#[tokio::test]
async fn two_tabs_of_one_user_on_two_nodes_are_one_member() {
    let redis = Redis::start().await;
    let auth = config().redis(redis.url()).jwt_secret("cluster-secret");
    let (one, two) = (
        TestServer::with(auth.clone()).await,
        TestServer::with(auth).await,
    );
    let mut bo = Client::accept(one.open(&format!("token={}", token("bo"))).await).await;
    bo.join("r").await;
    let mut first = Client::accept(one.open(&format!("token={}", token("ada"))).await).await;
    first.join("r").await;
    assert_eq!(
        bo.recv_until("user:joined").await["payload"]["userId"],
        "ada"
    );
    let mut second = Client::accept(two.open(&format!("token={}", token("ada"))).await).await;
    second.join("r").await;
    // Give a (wrong) second user:joined time to arrive before asking.
    sleep(Duration::from_millis(200)).await;
    bo.send_json(json!({"type": "presence", "payload": {"roomId": "r"}}))
        .await;
    let presence = bo.recv().await;
    assert_eq!(
        presence["type"], "presence",
        "no second user:joined: {presence}"
    );
    let mut users: Vec<&str> = presence["payload"]["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["userId"].as_str().expect("an id"))
        .collect();
    users.sort_unstable();
    assert_eq!(users, ["ada", "bo"]);
    // The tab on node one goes: Ada is still in the room, on node two.
    first.close().await;
    // Time for a (wrong) user:left to arrive first.
    sleep(Duration::from_millis(300)).await;
    say_acked(&mut second, "r", "still here").await;
    let next = bo.recv().await;
    assert_eq!(
        next["type"], "message",
        "no user:left while a tab stays: {next}"
    );
    assert_eq!(next["payload"]["from"], "ada");
    second.close().await;
    assert_eq!(bo.recv_until("user:left").await["payload"]["userId"], "ada");
    // Gone from the room on every node: back, she is new to it again.
    let mut again = Client::accept(two.open(&format!("token={}", token("ada"))).await).await;
    again.join("r").await;
    assert_eq!(
        bo.recv_until("user:joined").await["payload"]["userId"],
        "ada"
    );
}

/// A room's name is the client's to choose, braces and all: no name and no `cid` can make one
/// room's keys in Redis another's (room `x` with cid `q}:meta` once wrote the meta key of room
/// `x}:cid:q`, whose messages were then refused).
#[tokio::test]
async fn room_names_with_braces_keep_their_rooms_apart() {
    let redis = Redis::start().await;
    let server = node(&redis).await;
    let mut alice = server.connect().await;
    for room in ["x", "x}:cid:q", "x}:log", "{x}"] {
        alice.join(room).await;
    }
    // say_acked sends its text as the cid too.
    for (room, cid) in [
        ("x", "q}:meta"),
        ("x", "q}:log"),
        ("x}:cid:q", "a"),
        ("x}:log", "b"),
        ("{x}", "c"),
    ] {
        let ack = say_acked(&mut alice, room, cid).await;
        assert_eq!(ack["ok"], true, "{room} {cid}: {ack}");
        assert_eq!(ack.get("duplicate"), None, "{room} {cid}: {ack}");
    }
    for (room, count) in [("x", 2), ("x}:cid:q", 1), ("x}:log", 1), ("{x}", 1)] {
        alice
            .send_json(json!({"type": "history", "payload": {"roomId": room}}))
            .await;
        let history = alice.recv_until("history").await;
        assert_eq!(
            history["payload"]["messages"].as_array().map(Vec::len),
            Some(count),
            "{room}: {history}"
        );
    }
}

/// A room is not kept in Redis for good: one only joined is gone the age kept after its last
/// reader left; one whose member stays keeps its numbering while its messages age out, as on one
/// server.
#[tokio::test]
async fn rooms_nobody_uses_expire_and_rooms_in_use_keep_their_numbering() {
    let redis = Redis::start().await;
    let server = TestServer::with(
        config()
            .redis(redis.url())
            .history_age(Duration::from_secs(4)),
    )
    .await;
    let mut alice = server.connect().await;
    alice.join("ghost").await;
    alice.join("kept").await;
    let first = say_acked(&mut alice, "kept", "first").await;
    assert_eq!(first["seq"], 1, "{first}");
    let ttl: i64 = redis
        .cli(&["PTTL", "tether:{ghost}:meta"])
        .parse()
        .expect("PTTL");
    assert!((1..=4000).contains(&ttl), "the room expires: {ttl} ms");
    alice
        .send_json(json!({"type": "leave", "payload": {"roomId": "ghost"}}))
        .await;
    sleep(Duration::from_millis(5500)).await;
    assert_eq!(redis.cli(&["EXISTS", "tether:{ghost}:meta"]), "0");
    assert_eq!(redis.cli(&["EXISTS", "tether:{kept}:log"]), "0", "aged out");
    let second = say_acked(&mut alice, "kept", "second").await;
    assert_eq!(
        (second["seq"].clone(), second["epoch"].clone()),
        (json!(2), first["epoch"].clone()),
        "{second}"
    );
}

/// A Redis that stalls (stopped, its connections open) costs a node bounded memory: appends
/// beyond what the node holds waiting are refused as busy at once, and once Redis answers again
/// every append is answered.
#[tokio::test]
async fn a_stalled_redis_refuses_appends_beyond_the_queue_as_busy() {
    let redis = Redis::start_volatile().await;
    let server = TestServer::with(config().redis(redis.url()).unlimited_rates()).await;
    let mut alice = server.connect().await;
    alice.join("r").await;
    assert_eq!(say_acked(&mut alice, "r", "before").await["ok"], true);

    redis.pause();
    let sent = tether_server::store::APPEND_QUEUE + 5_000;
    for i in 0..sent {
        alice
            .send_json(json!({"type": "message", "payload": {"roomId": "r", "text": "x"}, "id": i}))
            .await;
    }
    // The refusals come while Redis is still stopped.
    let mut busy = 0;
    let mut acks = 0;
    while busy == 0 {
        let ack = alice.recv_until("ack").await;
        acks += 1;
        if ack["payload"]["error"] == "the message store is busy" {
            busy += 1;
        }
    }
    redis.resume();
    let mut stored = 0;
    while acks < sent {
        let ack = alice.recv_until("ack").await;
        acks += 1;
        match ack["payload"]["ok"].as_bool() {
            Some(true) => stored += 1,
            _ if ack["payload"]["error"] == "the message store is busy" => busy += 1,
            _ => {}
        }
    }
    // 5,000 more than the queue, less what went to Redis before it stopped answering and what
    // was answered `unavailable` when a stalled call timed out, each freeing a place.
    assert!(
        busy >= 1_000,
        "{busy} refused as busy, {stored} stored of {sent}"
    );
    assert!(stored > 0, "stored once Redis went on");
    assert_eq!(say_acked(&mut alice, "r", "after").await["ok"], true);
}

/// A room whose epoch and top Redis lost while its messages were still there (evicted under
/// memory pressure, deleted by hand) starts again as a new epoch: its old messages go with it,
/// and appends go on. Numbering from 1 again behind the old messages' ids refused them all.
#[tokio::test]
async fn a_room_whose_head_was_lost_starts_a_new_epoch_without_its_old_messages() {
    let redis = Redis::start().await;
    let server = node(&redis).await;
    let mut alice = server.connect().await;
    let mut bob = server.connect().await;
    alice.join("r").await;
    bob.join("r").await;
    let mut epoch = Value::Null;
    for text in ["one", "two", "three"] {
        epoch = say_acked(&mut alice, "r", text).await["epoch"].clone();
    }
    assert_eq!(redis.cli(&["DEL", "tether:{r}:meta"]), "1");
    alice
        .send_json(json!({"type": "message", "payload": {"roomId": "r", "text": "after", "cid": "after"}, "id": 1}))
        .await;
    // The room's members are told to reconnect (alice maybe before her ack reached her), and
    // their resumes are told.
    for client in [&mut alice, &mut bob] {
        let close = loop {
            match client.next_message().await {
                Some(Ok(Message::Close(Some(close)))) => break close,
                Some(Ok(_)) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        };
        assert_eq!(
            (u16::from(close.code), close.reason.as_str()),
            (1001, "room history lost")
        );
    }
    assert_eq!(redis.cli(&["XLEN", "tether:{r}:log"]), "1");
    let mut alice = server.connect().await;
    alice.join("r").await;
    let ack = say_acked(&mut alice, "r", "after").await;
    assert_eq!(
        (ack["seq"].clone(), ack["duplicate"].clone()),
        (json!(1), json!(true)),
        "stored once, numbered from 1: {ack}"
    );
    assert_ne!(ack["epoch"], epoch, "{ack}");
}

/// However short `--history-age` is, a room with a member keeps its epoch and numbering between
/// the node's checks: its messages age out, its head does not.
#[tokio::test]
async fn a_short_history_age_keeps_a_used_rooms_numbering() {
    let redis = Redis::start().await;
    let server = TestServer::with(
        config()
            .redis(redis.url())
            .history_age(Duration::from_millis(500)),
    )
    .await;
    let mut alice = server.connect().await;
    alice.join("r").await;
    let first = say_acked(&mut alice, "r", "first").await;
    sleep(Duration::from_secs(3)).await;
    let second = say_acked(&mut alice, "r", "second").await;
    assert_eq!(
        (second["seq"].clone(), second["epoch"].clone()),
        (json!(2), first["epoch"].clone()),
        "{second}"
    );
}
