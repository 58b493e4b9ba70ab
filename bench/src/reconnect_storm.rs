//! The reconnect storm: every client comes back at once after a server restart.

use crate::{BenchSocket, Endpoint, memory::check_fd_limit, progress::Progress};
use anyhow::{Context, Result, bail, ensure};
use serde::Serialize;
use std::{sync::Arc, time::Duration};
use tokio::{
    sync::{Semaphore, mpsc, watch},
    task::JoinSet,
    time::Instant,
};

/// How often a client retries a refused connection during the storm, and how long it waits.
const RETRIES: usize = 50;
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// `clients` connections sit in rooms of `room_size`; the server is restarted; once it listens
/// again every client reconnects and rejoins its room, at most `concurrency` handshakes in flight
/// (batches of 500, as reconnecting clients spread by backoff would arrive). The time from the
/// new server listening to the last client back in its room is the result.
#[derive(Debug, Clone)]
pub struct ReconnectStorm {
    clients: usize,
    room_size: usize,
    concurrency: usize,
}

/// What a reconnect storm measured.
#[derive(Debug, Clone, Serialize)]
pub struct ReconnectStormResult {
    /// Clients that came back.
    pub clients: usize,
    /// Members per room.
    pub room_size: usize,
    /// Handshakes in flight at most.
    pub concurrency: usize,
    /// From the restarted server listening to the last client rejoined, in seconds.
    pub seconds: f64,
    /// Clients back per second.
    pub per_second: f64,
    /// Connection attempts that failed and were retried.
    pub retries: u64,
}

impl ReconnectStorm {
    /// `clients` clients in rooms of 10, 500 handshakes in flight.
    pub fn new(clients: usize) -> Self {
        Self {
            clients,
            room_size: 10,
            concurrency: 500,
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

    /// Runs against `endpoint`; `restart` stops the server and returns once the new one listens.
    pub async fn run<F>(
        &self,
        endpoint: &Endpoint,
        restart: F,
        label: &str,
    ) -> Result<ReconnectStormResult>
    where
        F: AsyncFnOnce() -> Result<()>,
    {
        ensure!(self.clients > 0, "at least one client");
        ensure!(self.room_size > 0, "rooms of at least one member");
        ensure!(self.concurrency > 0, "at least one handshake at a time");
        check_fd_limit("self", "the generator", self.clients)?;
        let mut progress = Progress::new(label);
        progress.say(format_args!(
            "{} clients in rooms of {}: connecting",
            self.clients, self.room_size
        ));

        let (go_tx, go_rx) = watch::channel(false);
        let (stop_tx, stop_rx) = watch::channel(false);
        let (event_tx, mut events) = mpsc::unbounded_channel::<Event>();
        let handshakes = Arc::new(Semaphore::new(self.concurrency));
        let mut tasks = JoinSet::new();
        for index in 0..self.clients {
            let client = Client {
                index,
                room: format!("bench-storm-{}", index / self.room_size),
                endpoint: endpoint.clone(),
                handshakes: Arc::clone(&handshakes),
                events: event_tx.clone(),
                go: go_rx.clone(),
                stop: stop_rx.clone(),
            };
            tasks.spawn(client.run());
        }
        drop(event_tx);

        let mut counts = Counts::default();
        wait_for(&mut events, &mut tasks, &mut progress, &mut counts, |c| {
            c.joined == self.clients
        })
        .await?;
        progress.say("all joined; restarting the server");
        restart().await.context("restarting the server")?;
        let started = Instant::now();
        go_tx.send_replace(true);
        progress.say("the server listens again: clients reconnect");
        wait_for(&mut events, &mut tasks, &mut progress, &mut counts, |c| {
            c.rejoined == self.clients
        })
        .await?;
        let seconds = started.elapsed().as_secs_f64();
        ensure!(
            counts.lost == self.clients,
            "{} of {} clients did not see the restart",
            self.clients - counts.lost,
            self.clients
        );
        stop_tx.send_replace(true);
        while let Some(result) = tasks.join_next().await {
            result.context("a client task panicked")??;
        }
        let result = ReconnectStormResult {
            clients: self.clients,
            room_size: self.room_size,
            concurrency: self.concurrency,
            seconds,
            per_second: self.clients as f64 / seconds,
            retries: counts.retries,
        };
        progress.say(format_args!(
            "all {} back in {seconds:.2} s ({} retried connects)",
            self.clients, counts.retries
        ));
        Ok(result)
    }
}

/// What client tasks report.
#[derive(Debug, Clone, Copy)]
enum Event {
    Joined,
    Lost,
    Retried,
    Rejoined,
}

#[derive(Debug, Default)]
struct Counts {
    joined: usize,
    lost: usize,
    rejoined: usize,
    retries: u64,
}

/// Collects events until `done` holds, printing progress; fails if a client fails.
async fn wait_for(
    events: &mut mpsc::UnboundedReceiver<Event>,
    tasks: &mut JoinSet<Result<()>>,
    progress: &mut Progress,
    counts: &mut Counts,
    done: impl Fn(&Counts) -> bool,
) -> Result<()> {
    while !done(counts) {
        tokio::select! {
            event = events.recv() => match event {
                Some(Event::Joined) => counts.joined += 1,
                Some(Event::Lost) => counts.lost += 1,
                Some(Event::Retried) => counts.retries += 1,
                Some(Event::Rejoined) => counts.rejoined += 1,
                None => bail!("every client stopped"),
            },
            Some(result) = tasks.join_next() => {
                result.context("a client task panicked")??;
                bail!("a client stopped early");
            }
            _ = progress.tick() => progress.say(format_args!(
                "joined {}, lost {}, rejoined {}",
                counts.joined, counts.lost, counts.rejoined
            )),
        }
    }
    Ok(())
}

/// One client: join, lose the server, come back when told, hold until the end.
#[derive(Debug)]
struct Client {
    index: usize,
    room: String,
    endpoint: Endpoint,
    handshakes: Arc<Semaphore>,
    events: mpsc::UnboundedSender<Event>,
    go: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
}

impl Client {
    async fn run(mut self) -> Result<()> {
        let mut socket = self.connect_and_join(false).await?;
        let _ = self.events.send(Event::Joined);
        // Wait for the server to go away.
        while socket.recv().await.is_ok() {}
        drop(socket);
        let _ = self.events.send(Event::Lost);
        self.go
            .wait_for(|go| *go)
            .await
            .context("the run was abandoned")?;
        let mut socket = self.connect_and_join(true).await?;
        let _ = self.events.send(Event::Rejoined);
        socket.hold(&mut self.stop).await?;
        socket.close().await;
        Ok(())
    }

    async fn connect_and_join(&self, retry: bool) -> Result<BenchSocket> {
        let _permit = self.handshakes.acquire().await?;
        let mut attempt = 0;
        loop {
            let result = async {
                let mut socket = self.endpoint.connect(self.index, 1024).await?;
                socket.join(&self.room).await?;
                anyhow::Ok(socket)
            }
            .await;
            match result {
                Ok(socket) => return Ok(socket),
                Err(err) if !retry || attempt == RETRIES => return Err(err),
                Err(_) => {
                    attempt += 1;
                    let _ = self.events.send(Event::Retried);
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
    }
}
