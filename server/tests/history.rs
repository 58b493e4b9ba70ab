//! Room history: every message numbered per room, kept, replayed to a client that comes back
//! (`since`), paged back (`history`), stored once per `cid`, and kept across restarts and crashes
//! by the SQLite store.

mod common;

use common::{Client, TestServer, WAIT, config};
use serde_json::{Value, json};
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};
use tether_server::{Config, config::StoreKind};
use tokio::time::{Instant, sleep};

/// A config whose history is a SQLite database in `dir`.
fn sqlite(dir: &Path) -> Config {
    config().store(StoreKind::Sqlite).data_dir(dir)
}

/// Sends a chat with a request id (and a `cid`, if given) and returns its ack's payload.
async fn say_acked(client: &mut Client, room: &str, text: &str, cid: Option<&str>) -> Value {
    let mut payload = json!({"roomId": room, "text": text});
    if let Some(cid) = cid {
        payload["cid"] = json!(cid);
    }
    client
        .send_json(json!({"type": "message", "payload": payload, "id": text}))
        .await;
    let ack = client.recv_until("ack").await;
    assert_eq!(ack["payload"]["ok"], true, "{ack}");
    ack["payload"].clone()
}

/// Joins with a `join` payload of its own and returns the `joined`.
async fn join_with(client: &mut Client, payload: Value) -> Value {
    client
        .send_json(json!({"type": "join", "payload": payload, "id": "join"}))
        .await;
    let joined = client.recv_until("joined").await;
    joined["payload"].clone()
}

/// The texts of the next `n` messages, with their seqs.
async fn next_chats(client: &mut Client, n: usize) -> Vec<(u64, String)> {
    let mut chats = Vec::new();
    while chats.len() < n {
        let message = client.recv_until("message").await;
        let payload = &message["payload"];
        chats.push((
            payload["seq"].as_u64().expect("a seq"),
            payload["text"].as_str().expect("a text").to_owned(),
        ));
    }
    chats
}

fn texts(chats: &[(u64, String)]) -> Vec<&str> {
    chats.iter().map(|(_, text)| text.as_str()).collect()
}

#[tokio::test]
async fn messages_are_numbered_per_room_and_acked_with_their_position() {
    let server = TestServer::start().await;
    let mut alice = server.connect().await;
    let mut bob = server.connect().await;
    let joined = alice.join("r").await;
    bob.join("r").await;
    let epoch = joined["payload"]["epoch"].clone();
    for (i, text) in ["one", "two", "three"].into_iter().enumerate() {
        let ack = say_acked(&mut alice, "r", text, None).await;
        assert_eq!(ack["seq"], i as u64 + 1);
        assert_eq!(ack["epoch"], epoch);
    }
    let chats = next_chats(&mut bob, 3).await;
    assert_eq!(
        chats,
        [(1, "one".into()), (2, "two".into()), (3, "three".into())]
    );
    // Another room counts from 1.
    alice.join("other").await;
    assert_eq!(
        say_acked(&mut alice, "other", "first", None).await["seq"],
        1
    );
}

#[tokio::test]
async fn a_message_sent_twice_with_one_cid_is_stored_and_delivered_once() {
    let server = TestServer::start().await;
    let mut alice = server.connect().await;
    let mut bob = server.connect().await;
    alice.join("r").await;
    bob.join("r").await;
    let first = say_acked(&mut alice, "r", "hello", Some("c-1")).await;
    let again = say_acked(&mut alice, "r", "hello", Some("c-1")).await;
    assert_eq!(again["seq"], first["seq"]);
    assert_eq!(again["duplicate"], true);
    assert!(first.get("duplicate").is_none());
    say_acked(&mut alice, "r", "after", Some("c-2")).await;
    assert_eq!(texts(&next_chats(&mut bob, 2).await), ["hello", "after"]);
}

#[tokio::test]
async fn a_client_that_comes_back_gets_what_it_missed_then_live_messages() {
    let server = TestServer::start().await;
    let mut alice = server.connect().await;
    alice.join("r").await;
    let mut bob = server.connect().await;
    let joined = bob.join("r").await;
    say_acked(&mut alice, "r", "before", None).await;
    let (seq, _) = next_chats(&mut bob, 1).await.remove(0);
    let epoch = joined["payload"]["epoch"].clone();
    bob.close().await;
    for text in ["missed 1", "missed 2", "missed 3"] {
        say_acked(&mut alice, "r", text, None).await;
    }
    let mut bob = server.connect().await;
    let joined = join_with(
        &mut bob,
        json!({"roomId": "r", "since": {"epoch": epoch, "seq": seq}}),
    )
    .await;
    assert_eq!(joined["recovered"], true);
    assert_eq!(joined["seq"], 4);
    let replayed = next_chats(&mut bob, 3).await;
    assert_eq!(replayed.iter().map(|c| c.0).collect::<Vec<_>>(), [2, 3, 4]);
    assert_eq!(texts(&replayed), ["missed 1", "missed 2", "missed 3"]);
    assert_eq!(bob.recv_until("ack").await["payload"]["id"], "join");
    say_acked(&mut alice, "r", "live", None).await;
    assert_eq!(next_chats(&mut bob, 1).await, [(5, "live".into())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_while_others_publish_has_no_gap_and_no_duplicate() {
    let server = TestServer::with(config().unlimited_rates()).await;
    let mut publisher = server.connect().await;
    publisher.join("busy").await;
    let mut reader = server.connect().await;
    let epoch = reader.join("busy").await["payload"]["epoch"].clone();
    // The publisher writes without waiting while the reader leaves and comes back mid-stream.
    let publishing = tokio::spawn(async move {
        for i in 1..=400 {
            publisher
                .send_json(json!({"type": "message", "payload": {"roomId": "busy", "text": format!("m{i}")}}))
                .await;
            if i % 50 == 0 {
                sleep(Duration::from_millis(5)).await;
            }
        }
        publisher
    });
    let mut seen = next_chats(&mut reader, 40).await;
    let last = seen.last().expect("some").0;
    reader.close().await;
    let mut reader = server.connect().await;
    let joined = join_with(
        &mut reader,
        json!({"roomId": "busy", "since": {"epoch": epoch, "seq": last}}),
    )
    .await;
    assert_eq!(joined["recovered"], true, "{joined}");
    let rest = next_chats(&mut reader, 400 - seen.len()).await;
    seen.extend(rest);
    let seqs: Vec<u64> = seen.iter().map(|c| c.0).collect();
    assert_eq!(
        seqs,
        (1..=400).collect::<Vec<u64>>(),
        "every message once, in order"
    );
    publishing.await.expect("publisher");
}

#[tokio::test]
async fn a_resume_that_cannot_be_exact_says_so_and_replays_nothing() {
    let server = TestServer::with(config().max_replay(3).history_messages(5)).await;
    let mut alice = server.connect().await;
    let epoch = alice.join("r").await["payload"]["epoch"].clone();
    for i in 0..10 {
        say_acked(&mut alice, "r", &format!("m{i}"), None).await;
    }
    let cases = [
        (json!({"epoch": "not-this-one", "seq": 8}), "epoch_changed"),
        (json!({"epoch": epoch, "seq": 11}), "epoch_changed"),
        (json!({"epoch": epoch, "seq": 2}), "too_many"),
    ];
    for (since, reason) in cases {
        let mut bob = server.connect().await;
        let joined = join_with(&mut bob, json!({"roomId": "r", "since": since})).await;
        assert_eq!(joined["recovered"], false, "{since}");
        assert_eq!(joined["reason"], reason, "{since}");
        assert_eq!(
            bob.recv().await["payload"]["id"],
            "join",
            "no partial replay"
        );
    }
    // Kept: the last 5 (6..=10). From 4, 6 messages are missing but only 5 are kept.
    let server = TestServer::with(config().max_replay(100).history_messages(5)).await;
    let mut alice = server.connect().await;
    let epoch = alice.join("r").await["payload"]["epoch"].clone();
    for i in 0..10 {
        say_acked(&mut alice, "r", &format!("m{i}"), None).await;
    }
    let mut bob = server.connect().await;
    let joined = join_with(
        &mut bob,
        json!({"roomId": "r", "since": {"epoch": epoch, "seq": 4}}),
    )
    .await;
    assert_eq!(
        (&joined["recovered"], &joined["reason"]),
        (&json!(false), &json!("too_old"))
    );
}

#[tokio::test]
async fn a_fresh_join_can_ask_for_the_latest_messages_and_page_back() {
    let server = TestServer::start().await;
    let mut alice = server.connect().await;
    alice.join("r").await;
    for i in 1..=30 {
        say_acked(&mut alice, "r", &format!("m{i}"), None).await;
    }
    let mut bob = server.connect().await;
    let joined = join_with(&mut bob, json!({"roomId": "r", "recent": 10})).await;
    assert_eq!(joined["seq"], 30);
    assert!(joined.get("recovered").is_none());
    let latest = next_chats(&mut bob, 10).await;
    assert_eq!(latest.first().map(|c| c.0), Some(21));
    assert_eq!(latest.last().map(|c| c.0), Some(30));
    bob.recv_until("ack").await;

    bob.send_json(
        json!({"type": "history", "payload": {"roomId": "r", "before": 21, "limit": 15}, "id": 2}),
    )
    .await;
    let page = bob.recv_until("history").await["payload"].clone();
    let seqs: Vec<u64> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(seqs, (6..=20).collect::<Vec<_>>());
    assert_eq!(page["more"], true);
    assert_eq!(page["epoch"], joined["epoch"]);
    assert_eq!(bob.recv_until("ack").await["payload"]["ok"], true);
    bob.send_json(json!({"type": "history", "payload": {"roomId": "r", "before": 6}}))
        .await;
    let page = bob.recv_until("history").await["payload"].clone();
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(5));
    assert_eq!(page["more"], false);
    // Only members may read a room.
    let mut outsider = server.connect().await;
    outsider
        .send_json(json!({"type": "history", "payload": {"roomId": "r"}}))
        .await;
    assert_eq!(
        outsider.recv_until("error").await["payload"]["code"],
        "not_in_room"
    );
}

#[tokio::test]
async fn the_sqlite_store_keeps_rooms_across_a_restart() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    // With the default rejoin grace: Alice is still in her room for 15 s after she goes, and the
    // new server must open the data folder all the same.
    let grace = sqlite(dir.path()).rejoin_grace(Duration::from_secs(15));
    let mut server = TestServer::with(grace).await;
    let mut alice = server.connect().await;
    let epoch = alice.join("r").await["payload"]["epoch"].clone();
    for i in 1..=5 {
        say_acked(&mut alice, "r", &format!("m{i}"), Some(&format!("c{i}"))).await;
    }
    drop(alice);
    server.begin_shutdown();
    server.stopped(WAIT).await.expect("stopped");

    let server = TestServer::with(sqlite(dir.path())).await;
    let mut bob = server.connect().await;
    let joined = join_with(
        &mut bob,
        json!({"roomId": "r", "since": {"epoch": epoch, "seq": 2}}),
    )
    .await;
    assert_eq!(joined["epoch"], epoch, "the same history");
    assert_eq!(joined["recovered"], true);
    assert_eq!(texts(&next_chats(&mut bob, 3).await), ["m3", "m4", "m5"]);
    bob.recv_until("ack").await;
    // Numbering goes on, and a cid from before the restart is still known.
    assert_eq!(say_acked(&mut bob, "r", "m6", None).await["seq"], 6);
    let again = say_acked(&mut bob, "r", "m5", Some("c5")).await;
    assert_eq!(
        (again["seq"].clone(), again["duplicate"].clone()),
        (json!(5), json!(true))
    );
}

#[tokio::test]
async fn a_second_server_on_the_same_data_folder_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let _first = tether_server::open_store(&sqlite(dir.path())).expect("the first opens");
    let second = tether_server::open_store(&sqlite(dir.path())).expect_err("the second is refused");
    assert!(second.to_string().contains("in use"), "{second}");
}

// --- The real binary, killed ----------------------------------------------------------------

/// The `tether-server` binary on `port` with its history in `dir`.
fn spawn_server(dir: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tether-server"))
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .args(["--static-dir", "/nonexistent/tether-test-dist"])
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tether-server starts")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

async fn connect_when_up(port: u16) -> Client {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let url = format!("ws://127.0.0.1:{port}/ws");
        if let Ok((ws, _)) = tokio_tungstenite::connect_async(&url).await {
            return Client::accept(ws).await;
        }
        assert!(Instant::now() < deadline, "the server did not come up");
        sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acked_message_survives_kill_9() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let port = free_port();
    let mut server = spawn_server(dir.path(), port);
    let mut alice = connect_when_up(port).await;
    let epoch = alice.join("r").await["payload"]["epoch"].clone();
    // Acked messages, then a burst still in flight when the process dies.
    let mut acked = 0;
    for i in 1..=200 {
        say_acked(&mut alice, "r", &format!("m{i}"), None).await;
        acked = i;
    }
    for i in 201..=400 {
        let _ = alice
            .try_send_text(
                &json!({"type": "message", "payload": {"roomId": "r", "text": format!("m{i}")}})
                    .to_string(),
            )
            .await;
    }
    server.kill().expect("kill -9");
    server.wait().expect("reaped");

    let mut server = spawn_server(dir.path(), port);
    let mut bob = connect_when_up(port).await;
    let joined = join_with(
        &mut bob,
        json!({"roomId": "r", "since": {"epoch": epoch, "seq": 0}}),
    )
    .await;
    assert_eq!(joined["epoch"], epoch);
    let top = joined["seq"].as_u64().expect("seq");
    assert!(top >= acked, "{top} stored, {acked} acked");
    let replay = next_chats(&mut bob, top as usize).await;
    for (i, (seq, text)) in replay.iter().enumerate() {
        assert_eq!(*seq, i as u64 + 1);
        assert_eq!(*text, format!("m{}", i + 1), "in order, nothing twice");
    }
    server.kill().expect("kill");
    server.wait().expect("reaped");
}

#[tokio::test]
async fn a_database_that_is_not_one_stops_the_server_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(
        dir.path().join("tether.sqlite3"),
        b"this is not a database, at all: ".repeat(200),
    )
    .expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_tether-server"))
        .args(["--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "off")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("tether.sqlite3"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

// --- Identity across reconnects ---------------------------------------------------------------

/// Connects with `?resume=<token>` and returns the client.
async fn resume(server: &TestServer, token: &str) -> Client {
    Client::accept(server.open(&format!("resume={token}")).await).await
}

#[tokio::test]
async fn a_resume_token_gives_the_client_its_id_back() {
    let server = TestServer::start().await;
    let alice = server.connect().await;
    let token = alice
        .resume_token
        .clone()
        .expect("connected carries a resume token");
    let id = alice.id.clone();
    alice.close().await;
    let again = resume(&server, &token).await;
    assert_eq!(again.id, id);
    // Someone else's token, altered: a new id, no error.
    let mut forged = token.clone();
    forged.replace_range(0..2, if &token[0..2] == "AA" { "BB" } else { "AA" });
    let stranger = resume(&server, &forged).await;
    assert_ne!(stranger.id, id);
}

#[tokio::test]
async fn a_client_back_within_the_grace_is_not_seen_leaving_and_joining() {
    let server = TestServer::with(config().rejoin_grace(Duration::from_secs(3))).await;
    let mut alice = server.connect().await;
    alice.join("r").await;
    let mut bob = server.connect().await;
    bob.join("r").await;
    alice.recv_type("user:joined").await;
    let token = bob.resume_token.clone().expect("a token");
    bob.close().await;
    let mut bob = resume(&server, &token).await;
    bob.join("r").await;
    bob.say("r", "back").await;
    // The next thing alice hears is bob's message: no user:left, no user:joined.
    let next = alice.recv().await;
    assert_eq!(next["type"], "message", "{next}");
    assert_eq!(next["payload"]["from"], bob.id);
}

#[tokio::test]
async fn a_client_that_does_not_come_back_leaves_after_the_grace() {
    let server = TestServer::with(config().rejoin_grace(Duration::from_millis(300))).await;
    let mut alice = server.connect().await;
    alice.join("r").await;
    let mut bob = server.connect().await;
    bob.join("r").await;
    alice.recv_type("user:joined").await;
    let (id, started) = (bob.id.clone(), Instant::now());
    bob.close().await;
    let left = alice.recv_type("user:left").await;
    assert_eq!(left["payload"]["userId"], id);
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_newer_connection_with_the_token_replaces_the_older_one() {
    let server = TestServer::start().await;
    let mut old = server.connect().await;
    old.join("r").await;
    let token = old.resume_token.clone().expect("a token");
    let mut new = resume(&server, &token).await;
    assert_eq!(new.id, old.id);
    old.expect_close(4001).await;
    new.join("r").await;
    new.expect_nothing_pending().await;
}

#[tokio::test]
async fn a_resume_token_outlives_a_restart_with_the_sqlite_store() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut server = TestServer::with(sqlite(dir.path())).await;
    let alice = server.connect().await;
    let (id, token) = (
        alice.id.clone(),
        alice.resume_token.clone().expect("a token"),
    );
    drop(alice);
    server.begin_shutdown();
    server.stopped(WAIT).await.expect("stopped");
    let server = TestServer::with(sqlite(dir.path())).await;
    assert_eq!(resume(&server, &token).await.id, id);
}

// --- A full disk ------------------------------------------------------------------------------

/// A tmpfs of `size` on `dir`, or `None` where this machine does not let the test mount one.
fn mount_tmpfs(dir: &Path, size: &str) -> Option<()> {
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .ok()?;
    status.success().then_some(())
}

fn remount(dir: &Path, size: &str) {
    let status = Command::new("mount")
        .args(["-o", &format!("remount,size={size}")])
        .arg(dir)
        .status()
        .expect("mount runs");
    assert!(status.success(), "remount {size}");
}

struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_messages_keeps_the_connection_and_recovers() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("a mount point");
    if mount_tmpfs(&data, "256k").is_none() {
        // Mounting needs root and a kernel that allows it; CI runs as root here.
        eprintln!("skipped: cannot mount a tmpfs on this machine");
        return;
    }
    let _unmount = Unmount(data.clone());
    let port = free_port();
    let mut server = spawn_server(&data, port);
    let mut alice = connect_when_up(port).await;
    alice.join("r").await;
    let text = "x".repeat(4000);
    let mut refused = None;
    for i in 0..500 {
        alice
            .send_json(
                json!({"type": "message", "payload": {"roomId": "r", "text": text}, "id": i}),
            )
            .await;
        let ack = alice.recv_until("ack").await["payload"].clone();
        if ack["ok"] == false {
            refused = Some(ack);
            break;
        }
    }
    let refused = refused.expect("a 256 KiB disk fills up");
    assert_eq!(refused["code"], "unavailable", "{refused}");
    // The connection is still there, and the room still answers.
    alice.expect_nothing_pending().await;
    // Space comes back: so do the messages.
    remount(&data, "64m");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        alice
            .send_json(json!({"type": "message", "payload": {"roomId": "r", "text": "after"}, "id": "after"}))
            .await;
        let ack = alice.recv_until("ack").await["payload"].clone();
        if ack["ok"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "still refused: {ack}");
        sleep(Duration::from_millis(200)).await;
    }
    server.kill().expect("kill");
    server.wait().expect("reaped");
}
