//! The join storm: many clients connect and join one room at the same moment.

use crate::{Endpoint, latency::percentile, memory::check_fd_limit, progress::Progress};
use anyhow::{Context, Result, ensure};
use serde::Serialize;
use std::time::Duration;
use tokio::{
    sync::{mpsc, watch},
    task::JoinSet,
    time::Instant,
};

/// `clients` connect and join one room all at once (no limit on handshakes in flight); the time
/// until the last has its `joined` is the result. Each join is announced to everyone already in
/// the room, so the server sends about `clients² / 2` frames.
#[derive(Debug, Clone)]
pub struct JoinStorm {
    clients: usize,
    room: String,
}

/// What a join storm measured.
#[derive(Debug, Clone, Serialize)]
pub struct JoinStormResult {
    /// Clients that joined.
    pub clients: usize,
    /// From the first connect to the last `joined`, in milliseconds.
    pub total_ms: f64,
    /// Per client, connect to `joined`: median.
    pub p50_ms: f64,
    /// Per client: 99th percentile.
    pub p99_ms: f64,
}

impl JoinStorm {
    /// `clients` clients into one room.
    pub fn new(clients: usize) -> Self {
        Self {
            clients,
            room: "bench-join-storm".to_owned(),
        }
    }

    /// Runs against `endpoint`.
    pub async fn run(&self, endpoint: &Endpoint, label: &str) -> Result<JoinStormResult> {
        ensure!(self.clients > 0, "at least one client");
        check_fd_limit("self", "the generator", self.clients)?;
        let mut progress = Progress::new(label);
        progress.say(format_args!(
            "{} clients join one room at once",
            self.clients
        ));
        let (stop_tx, stop_rx) = watch::channel(false);
        let (joined_tx, mut joined_rx) = mpsc::unbounded_channel::<(Duration, usize)>();
        let mut tasks = JoinSet::new();
        let started = Instant::now();
        for index in 0..self.clients {
            let endpoint = endpoint.clone();
            let room = self.room.clone();
            let joined_tx = joined_tx.clone();
            let mut stop = stop_rx.clone();
            tasks.spawn(async move {
                let mine = Instant::now();
                let mut socket = endpoint.connect(index, 4096).await?;
                let members = socket.join(&room).await?;
                let _ = joined_tx.send((mine.elapsed(), members));
                // Stay in the room, reading the others' `user:joined`, until all are in.
                socket.hold(&mut stop).await?;
                socket.close().await;
                anyhow::Ok(())
            });
        }
        drop(joined_tx);

        let mut latencies = Vec::with_capacity(self.clients);
        let mut largest = 0;
        while latencies.len() < self.clients {
            tokio::select! {
                one = joined_rx.recv() => match one {
                    Some((latency, members)) => {
                        latencies.push(latency);
                        largest = largest.max(members);
                    }
                    None => break,
                },
                _ = progress.tick() => progress.say(format_args!("{}/{} joined", latencies.len(), self.clients)),
            }
        }
        let total = started.elapsed();
        if latencies.len() < self.clients {
            while let Some(result) = tasks.join_next().await {
                result.context("a client task panicked")??;
            }
        }
        ensure!(
            largest == self.clients,
            "the room had {largest} members at most, expected {} (was it empty?)",
            self.clients
        );
        stop_tx.send_replace(true);
        while let Some(result) = tasks.join_next().await {
            result.context("a client task panicked")??;
        }
        latencies.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let result = JoinStormResult {
            clients: self.clients,
            total_ms: ms(total),
            p50_ms: ms(percentile(&latencies, 50)),
            p99_ms: ms(percentile(&latencies, 99)),
        };
        progress.say(format_args!(
            "all joined in {:.0} ms (per client p50 {:.0} ms, p99 {:.0} ms)",
            result.total_ms, result.p50_ms, result.p99_ms
        ));
        Ok(result)
    }
}
