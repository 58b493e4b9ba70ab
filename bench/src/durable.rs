//! Durable throughput: how many room messages a server stores and acks per second, across rooms.
//!
//! One sender per room, each keeping `window` messages in flight and sending the next as soon as
//! one is acked. An ack from Tether means the message is stored (with SQLite: committed) and
//! delivered, so acks per second is the durable throughput. Run against one store, then another,
//! each on a fresh server with its rate limits off (a load generator is not a person).

use crate::server_process::{Limits, Programs, ServerProcess};
use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// The scenario's shape.
#[derive(Debug, Clone)]
pub struct Durable {
    rooms: usize,
    window: usize,
    warmup: Duration,
    measure: Duration,
    text: usize,
}

/// What one store did.
#[derive(Debug, Clone, Serialize)]
pub struct DurableResult {
    /// `sqlite` or `memory`.
    pub store: String,
    /// Rooms, one sender each.
    pub rooms: usize,
    /// Messages acked `ok` in the measured window.
    pub acked: u64,
    /// Messages refused (any `ok: false`).
    pub refused: u64,
    /// Acked messages per second.
    pub per_second: f64,
}

impl Default for Durable {
    fn default() -> Self {
        Self {
            rooms: 100,
            window: 32,
            warmup: Duration::from_secs(1),
            measure: Duration::from_secs(10),
            text: 100,
        }
    }
}

impl Durable {
    /// `rooms` senders, one per room.
    pub fn rooms(mut self, rooms: usize) -> Self {
        self.rooms = rooms;
        self
    }

    /// Messages each sender keeps in flight.
    pub fn window(mut self, window: usize) -> Self {
        self.window = window.max(1);
        self
    }

    /// How long senders run before acks are counted.
    pub fn warmup(mut self, warmup: Duration) -> Self {
        self.warmup = warmup;
        self
    }

    /// How long acks are counted (after the warm-up, a second by default).
    pub fn measure(mut self, measure: Duration) -> Self {
        self.measure = measure;
        self
    }

    /// Runs against a fresh `tether-server` with `--store <store>`.
    pub async fn run(&self, programs: &Programs, store: &str) -> Result<DurableResult> {
        let flags = [
            "--store",
            store,
            "--message-rate",
            "0",
            "--join-rate",
            "0",
            "--address-message-rate",
            "0",
            "--address-text-byte-rate",
            "0",
            "--address-connect-rate",
            "0",
            "--max-connections-per-ip",
            "0",
        ];
        let server = ServerProcess::start_tether(programs, Limits::defaults_with(&flags)).await?;
        let url = format!("ws://{}/ws", server.addr());
        let acked = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let (from, until) = (started + self.warmup, started + self.warmup + self.measure);
        let text = "x".repeat(self.text);
        let mut senders = Vec::new();
        for room in 0..self.rooms {
            let (url, text, acked, refused) = (
                url.clone(),
                text.clone(),
                Arc::clone(&acked),
                Arc::clone(&refused),
            );
            let window = self.window;
            senders.push(tokio::spawn(async move {
                send_until(
                    &url,
                    &format!("durable-{room}"),
                    &text,
                    window,
                    from,
                    until,
                    &acked,
                    &refused,
                )
                .await
            }));
        }
        for sender in senders {
            sender.await.context("a sender")??;
        }
        server.stop().await?;
        let acked = acked.load(Ordering::Relaxed);
        Ok(DurableResult {
            store: store.to_owned(),
            rooms: self.rooms,
            acked,
            refused: refused.load(Ordering::Relaxed),
            per_second: acked as f64 / self.measure.as_secs_f64(),
        })
    }
}

/// One sender: joins `room`, then keeps `window` messages in flight until `until`, counting the
/// acks that arrive from `from` on.
#[allow(clippy::too_many_arguments)]
async fn send_until(
    url: &str,
    room: &str,
    text: &str,
    window: usize,
    from: Instant,
    until: Instant,
    acked: &AtomicU64,
    refused: &AtomicU64,
) -> Result<()> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .context("a sender's connect")?;
    let join = format!(r#"{{"type":"join","payload":{{"roomId":"{room}"}}}}"#);
    ws.send(Message::text(join)).await?;
    let message = |id: u64| {
        format!(r#"{{"type":"message","payload":{{"roomId":"{room}","text":"{text}"}},"id":{id}}}"#)
    };
    let mut next = 0u64;
    let mut joined = false;
    while let Some(frame) = ws.next().await {
        let Message::Text(frame) = frame? else {
            continue;
        };
        let frame = frame.as_str();
        if !joined {
            if frame.starts_with(r#"{"type":"joined""#) {
                joined = true;
                for _ in 0..window {
                    ws.send(Message::text(message(next))).await?;
                    next += 1;
                }
            }
            continue;
        }
        if !frame.starts_with(r#"{"type":"ack""#) {
            continue;
        }
        let now = Instant::now();
        if now >= from && now < until {
            if frame.contains(r#""ok":true"#) {
                acked.fetch_add(1, Ordering::Relaxed);
            } else {
                refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        if now >= until {
            let _ = ws.close(None).await;
            return Ok(());
        }
        ws.send(Message::text(message(next))).await?;
        next += 1;
    }
    bail!("the server closed a sender")
}
