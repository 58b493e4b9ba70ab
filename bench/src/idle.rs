//! The idle scenario: many connections sitting in rooms, and what they cost the server.

use crate::{BenchSocket, Endpoint, Memory, memory::check_fd_limit, progress::Progress};
use anyhow::{Context, Result, ensure};
use serde::Serialize;
use std::{sync::Arc, time::Duration};
use tokio::{
    sync::{Semaphore, mpsc, watch},
    task::JoinSet,
    time::Instant,
};

/// Opens `connections` connections that each join one room of `room_size`, lets the server
/// settle, and reads its resident memory from `/proc`: the growth divided by the connections is
/// what one idle, joined connection costs.
#[derive(Debug, Clone)]
pub struct Idle {
    connections: usize,
    room_size: usize,
    concurrency: usize,
    settle: Duration,
    redis_pid: Option<u32>,
}

/// What an idle run measured.
#[derive(Debug, Clone, Serialize)]
pub struct IdleResult {
    /// Connections held open.
    pub connections: usize,
    /// Members per room.
    pub room_size: usize,
    /// Seconds to open and join them all.
    pub connect_seconds: f64,
    /// The server's memory before the first connection.
    pub before: Memory,
    /// The server's memory with every connection open and settled.
    pub after: Memory,
    /// `(after − before) / connections`, in bytes.
    pub rss_bytes_per_connection: f64,
    /// The memory of the Redis the server is a node on, before the first connection and with
    /// every connection open and settled, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<(Memory, Memory)>,
}

impl IdleResult {
    /// Redis's RSS growth divided by the connections, in bytes, when the server is a node on
    /// a Redis of the run's own.
    pub fn redis_rss_bytes_per_connection(&self) -> Option<f64> {
        let (before, after) = self.redis?;
        let grown = after.rss_kib as f64 - before.rss_kib as f64;
        Some(grown * 1024.0 / self.connections as f64)
    }
}

impl Idle {
    /// `connections` connections in rooms of 10, at most 500 handshakes in flight, 3 s to settle.
    pub fn new(connections: usize) -> Self {
        Self {
            connections,
            room_size: 10,
            concurrency: 500,
            settle: Duration::from_secs(3),
            redis_pid: None,
        }
    }

    /// Members per room.
    pub fn room_size(mut self, room_size: usize) -> Self {
        self.room_size = room_size;
        self
    }

    /// How many handshakes may be in flight at once.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// How long to let the server settle before reading its memory.
    pub fn settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// The process id of the Redis the server is a node on: its memory is read too.
    pub fn redis_pid(mut self, pid: u32) -> Self {
        self.redis_pid = Some(pid);
        self
    }

    /// Runs against `endpoint`, served by process `pid`.
    pub async fn run(&self, endpoint: &Endpoint, pid: u32, label: &str) -> Result<IdleResult> {
        ensure!(self.connections > 0, "at least one connection");
        ensure!(self.room_size > 0, "rooms of at least one member");
        ensure!(self.concurrency > 0, "at least one handshake at a time");
        check_fd_limit("self", "the generator", self.connections)?;
        check_fd_limit(&pid.to_string(), "the server", self.connections)?;
        let mut progress = Progress::new(label);
        let before = Memory::read(pid)?;
        let redis_before = self.redis_pid.map(Memory::read).transpose()?;
        progress.say(format_args!(
            "server {before}; opening {} connections in rooms of {}",
            self.connections, self.room_size
        ));

        let started = Instant::now();
        let (stop_tx, stop_rx) = watch::channel(false);
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<()>();
        let handshakes = Arc::new(Semaphore::new(self.concurrency));
        let mut tasks = JoinSet::new();
        for index in 0..self.connections {
            let endpoint = endpoint.clone();
            let room = format!("bench-idle-{}", index / self.room_size);
            let handshakes = Arc::clone(&handshakes);
            let ready_tx = ready_tx.clone();
            let mut stop = stop_rx.clone();
            tasks.spawn(async move {
                let permit = handshakes.acquire_owned().await?;
                let mut socket: BenchSocket = endpoint.connect(index, 1024).await?;
                socket.join(&room).await?;
                drop(permit);
                let _ = ready_tx.send(());
                socket.hold(&mut stop).await?;
                socket.close().await;
                anyhow::Ok(())
            });
        }
        drop(ready_tx);
        let mut ready = 0;
        while ready < self.connections {
            tokio::select! {
                one = ready_rx.recv() => match one {
                    Some(()) => ready += 1,
                    None => break,
                },
                _ = progress.tick() => progress.say(format_args!("{ready}/{} joined", self.connections)),
            }
        }
        if ready < self.connections {
            // Every sender is gone: some task failed before joining; report its error.
            while let Some(result) = tasks.join_next().await {
                result.context("a connection task panicked")??;
            }
        }
        let connect_seconds = started.elapsed().as_secs_f64();
        progress.say(format_args!(
            "all joined in {connect_seconds:.1} s; settling for {} s",
            self.settle.as_secs_f64()
        ));
        tokio::time::sleep(self.settle).await;
        let after = Memory::read(pid)?;
        let redis_after = self.redis_pid.map(Memory::read).transpose()?;
        // A connection the server closed meanwhile would make the figure meaningless.
        if let Some(result) = tasks.try_join_next() {
            result.context("a connection task panicked")??;
            anyhow::bail!("a connection ended while it should have been held");
        }
        stop_tx.send_replace(true);
        while let Some(result) = tasks.join_next().await {
            result.context("a connection task panicked")??;
        }
        let grown = after.rss_kib as f64 - before.rss_kib as f64;
        let result = IdleResult {
            connections: self.connections,
            room_size: self.room_size,
            connect_seconds,
            before,
            after,
            rss_bytes_per_connection: grown * 1024.0 / self.connections as f64,
            redis: redis_before.zip(redis_after),
        };
        progress.say(format_args!(
            "server {after}: {:.0} bytes per connection",
            result.rss_bytes_per_connection
        ));
        Ok(result)
    }
}
