//! A client that stops reading is closed as a slow consumer, and does not slow its room down.

mod common;

use common::{Client, TestServer, WAIT, config};
use std::time::Duration;
use tether_server::Config;
use tokio::{
    sync::watch,
    task::JoinHandle,
    time::{Instant, timeout},
};
use tokio_tungstenite::tungstenite::Message;

const QUEUE: usize = 16 * 1024;
/// Chat texts of about 4 KiB: three fit in a queue, four do not.
const TEXT: usize = 4000;
/// Messages sent before the watcher must have read them all. Kept under the queue limit, so a
/// watcher that keeps reading can never be mistaken for a slow consumer.
const BATCH: usize = 3;
/// The most the test will send: far more than loopback socket buffers hold.
const MAX_MESSAGES: usize = 10_000;

/// A room `flood` with a sender, a watcher that reads everything, and a client that never reads
/// (over a socket with a tiny receive buffer, so the kernel absorbs little on its behalf).
struct Flood {
    server: TestServer,
    flooder: Client,
    slow: Client,
    /// How many chats the watcher has read, in order.
    seen: watch::Receiver<usize>,
    /// The watcher's task; it ends once it has seen `done` and the slow client's `user:left`.
    watching: JoinHandle<Client>,
    sent: usize,
}

impl Flood {
    async fn start(config: Config) -> Self {
        let server = TestServer::with(config).await;
        let mut flooder = server.connect().await;
        let mut watcher = server.connect().await;
        flooder.join("flood").await;
        watcher.join("flood").await;
        flooder.recv_type("user:joined").await;
        let mut slow = server.connect_small_buffer().await;
        slow.join("flood").await;
        flooder.recv_type("user:joined").await;
        watcher.recv_type("user:joined").await;
        let slow_id = slow.id.clone();
        // The `done` and the slow client's `user:left` may come in either order: the server tells
        // the room only after its attempt to close the slow client's socket, which may take a
        // second.
        let (seen_tx, seen) = watch::channel(0usize);
        let watching = tokio::spawn(async move {
            let (mut slow_left, mut done) = (false, false);
            while !(slow_left && done) {
                let message = watcher.recv().await;
                match message["type"].as_str() {
                    Some("message") if message["payload"]["text"] == "done" => done = true,
                    Some("message") => {
                        let text = message["payload"]["text"].as_str().expect("text");
                        let expected = *seen_tx.borrow();
                        assert_eq!(text[..5].parse().ok(), Some(expected), "out of order");
                        seen_tx.send_replace(expected + 1);
                    }
                    Some("user:left") => {
                        assert_eq!(message["payload"]["userId"], slow_id.as_str());
                        slow_left = true;
                    }
                    _ => panic!("unexpected {message}"),
                }
            }
            watcher
        });
        Self {
            server,
            flooder,
            slow,
            seen,
            watching,
            sent: 0,
        }
    }

    /// Floods the room until the server reports a slow-consumer close. Sends in small batches
    /// and waits for the watcher to read each, so only a client that does not read falls behind.
    async fn until_slow_close(&mut self) {
        let padding = "x".repeat(TEXT);
        let started = Instant::now();
        while self
            .server
            .metric("tether_slow_consumer_closes_total")
            .await
            == 0.0
        {
            assert!(
                self.sent < MAX_MESSAGES,
                "no slow-consumer close after {} messages ({:?})",
                self.sent,
                started.elapsed()
            );
            for _ in 0..10 {
                for _ in 0..BATCH {
                    let text = format!("{:05}{padding}", self.sent);
                    self.flooder.say("flood", &text).await;
                    self.sent += 1;
                }
                let sent = self.sent;
                timeout(WAIT, self.seen.wait_for(|&n| n == sent))
                    .await
                    .expect("the watcher fell behind")
                    .expect("the watcher stopped");
            }
        }
    }

    /// Asserts the watcher got every chat and the slow client's `user:left`, that the slow
    /// client's connection ended (with 1013 if with a close frame at all), and that the room
    /// still works.
    async fn assert_room_kept_up(mut self) {
        assert_eq!(
            self.server
                .metric("tether_slow_consumer_closes_total")
                .await,
            1.0
        );
        self.flooder.say("flood", "done").await;
        let mut watcher = timeout(WAIT, self.watching)
            .await
            .expect("the watcher saw no `done` or no `user:left` for the slow client")
            .expect("the watcher panicked");
        assert_eq!(
            *self.seen.borrow(),
            self.sent,
            "the watcher missed messages"
        );
        // The close frame goes out only if the socket has room for it: a slow consumer's socket
        // is usually full, and the server gives up writing the close after a second. Either way
        // the connection ends, and never with a code other than 1013.
        if let Some(code) = read_to_the_end(&mut self.slow).await {
            assert_eq!(code, 1013);
        }
        self.server
            .wait_for_metric("tether_connections", |n| n == 2.0)
            .await;
        self.flooder.say("flood", "after").await;
        assert_eq!(
            watcher.recv_type("message").await["payload"]["text"],
            "after"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_queue_overflows_is_closed_and_counted_while_the_room_keeps_up() {
    // A write stall alone would take 10 s to count; the queue limit is what trips here.
    let mut flood = Flood::start(config().unlimited_rates().max_queue_bytes(QUEUE)).await;
    flood.until_slow_close().await;
    flood.assert_room_kept_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_writes_stall_past_the_write_timeout_is_closed_and_counted() {
    // A queue larger than the whole flood can fill, so only the stalled write can trip.
    let mut flood = Flood::start(
        config()
            .unlimited_rates()
            .max_queue_bytes(2 * MAX_MESSAGES * TEXT)
            .write_timeout(Duration::from_millis(300)),
    )
    .await;
    flood.until_slow_close().await;
    flood.assert_room_kept_up().await;
}

/// Reads whatever was buffered for a client until its connection ends; returns the close code if
/// a close frame came.
async fn read_to_the_end(client: &mut Client) -> Option<u16> {
    let deadline = Instant::now() + WAIT;
    loop {
        let next = tokio::time::timeout_at(deadline, client.next_message())
            .await
            .expect("the slow consumer's connection did not end");
        match next {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_notices_are_dropped_for_a_slow_reader_instead_of_closing_it() {
    let server = TestServer::with(config().unlimited_rates().max_queue_bytes(QUEUE)).await;
    let mut typist = server.connect().await;
    typist.join("r").await;
    let mut slow = server.connect_small_buffer().await;
    slow.join("r").await;
    typist.recv_type("user:joined").await;

    let started = Instant::now();
    let mut sent = 0;
    while server.metric("tether_messages_dropped_total").await == 0.0 {
        assert!(
            sent < 20 * MAX_MESSAGES,
            "no typing notice dropped after {sent} ({:?})",
            started.elapsed()
        );
        for _ in 0..200 {
            typist
                .send(tether_protocol::ClientMessage::Typing(
                    tether_protocol::RoomRef::new("r"),
                ))
                .await;
        }
        sent += 200;
    }
    // Typing notices alone never make a slow consumer: the queue refuses them once half full.
    typist.say("r", "real message").await;
    typist.expect_nothing_pending().await;
    assert_eq!(
        server.metric("tether_slow_consumer_closes_total").await,
        0.0
    );

    // Once it reads again, the slow client gets what was kept, and the real message after it.
    let message = slow.recv_until("message").await;
    assert_eq!(message["payload"]["text"], "real message");
    slow.expect_nothing_pending().await;
}
