//! The resume storm: clients in rooms, some publishing acked messages, lose their connections
//! (the server killed with `kill -9` and restarted, or every connection dropped), come back at
//! once, and must each end up with every message of their room exactly once.
//!
//! What each client saw is checked at the end against what was published: see
//! [`ResumeStormResult`] for the figures, and the `resume_client` module for how a client
//! resumes with each server.

use crate::{
    Endpoint,
    cpu_time::cpu_time,
    memory::check_fd_limit,
    progress::Progress,
    resume_client::{Client, Control, Event, Shared, Tally},
};
use anyhow::{Context, Result, bail, ensure};
use serde::Serialize;
use std::{
    collections::BTreeMap,
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};
use tokio::{
    sync::{Semaphore, mpsc, watch},
    task::JoinSet,
    time::{Instant, sleep_until},
};

/// How long publishers may take to have every message acked once publishing has stopped (and
/// they are back).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How the clients lose their connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// The server is killed with SIGKILL while messages are in flight and started again on the
    /// same port (and, for Tether, the same data folder).
    Kill,
    /// The server stays up; every client's connection is reset at once (no close frame, a TCP
    /// reset), as when a network goes away, and reconnects at once.
    Drop,
}

impl Fault {
    /// Both, in the order the suite runs them.
    pub const ALL: [Fault; 2] = [Self::Kill, Self::Drop];

    /// The name used on the command line and in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Kill => "kill",
            Self::Drop => "drop",
        }
    }

    /// Parses [`name`](Self::name).
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|fault| fault.name() == name)
            .with_context(|| format!("unknown fault {name:?}: kill or drop"))
    }
}

/// `clients` connections in rooms of `room_size`, the first `publishers_per_room` of each room
/// sending a message every `1 / rate` seconds with an ack (and, to Tether, a `cid`). After
/// `before`, the [`Fault`]; publishing goes on for `after` from the moment the server is back (or
/// the connections were dropped): a publisher keeps what it could not send and sends it, with
/// whatever was not acked, once it is back. Then every publisher waits for its acks, the room
/// settles, and each client checks what it saw.
///
/// The time from the server listening again (or the drop) to the last client back in its room
/// with everything it missed is the result's `seconds`.
#[derive(Debug, Clone)]
pub struct ResumeStorm {
    clients: usize,
    room_size: usize,
    publishers_per_room: usize,
    rate: f64,
    before: Duration,
    after: Duration,
    settle: Duration,
    concurrency: usize,
    back_timeout: Duration,
}

/// What a resume storm measured, summed over its clients. "Deliveries" are (member, message)
/// pairs: a message of a room of 10 owes 9.
#[derive(Debug, Clone, Serialize)]
pub struct ResumeStormResult {
    /// How the connections were lost.
    pub fault: Fault,
    /// Clients.
    pub clients: usize,
    /// Members per room.
    pub room_size: usize,
    /// Clients that publish.
    pub publishers: usize,
    /// Messages per second, per publisher.
    pub rate: f64,
    /// From the server listening again (kill) or the drop to the last client back in its room
    /// with what it missed: Tether's join ack, which follows the replay; Socket.IO's connect
    /// packet for a recovered session (the missed broadcasts come before it), its `joined` for
    /// one that had to join again. The time limit when some never came back.
    pub seconds: f64,
    /// Clients not back within the time limit.
    pub not_back: usize,
    /// Distinct messages published, every one of them acked in the end.
    pub published: u64,
    /// Messages sent but not acked when the connection was lost, summed over publishers.
    pub unacked_at_fault: u64,
    /// Messages sent again after reconnecting (all the unacked ones, same `cid` for Tether).
    pub resent: u64,
    /// Messages still not acked at the end (their publisher not back, or the server never
    /// answered).
    pub unacked_at_end: u64,
    /// Tether: resent messages acked `duplicate: true` (stored before the fault; the ack was
    /// lost), so stored once.
    pub acked_duplicate: u64,
    /// Messages a server refused (none expected: limits are off).
    pub refused: u64,
    /// Deliveries owed: each member, every message of the other publishers of its room.
    pub expected: u64,
    /// Message frames received.
    pub delivered: u64,
    /// Messages received as the replay of a resume (Tether: after `joined` with `recovered:
    /// true`, up to its `seq`; Socket.IO: the missed broadcasts sent before the connect packet).
    pub replayed: u64,
    /// Deliveries owed that never arrived.
    pub lost: u64,
    /// Deliveries that arrived more than once, and messages stored twice.
    pub duplicated: u64,
    /// Tether: positions in a member's range (from its first join to the room's last `seq`) it
    /// saw neither as a message nor as the ack of its own; and positions seen twice.
    pub seq_gaps: Option<u64>,
    /// Tether: positions received twice.
    pub seq_repeats: Option<u64>,
    /// Reconnections that did not get their session back: Tether's `recovered: false`,
    /// Socket.IO's connect with a new session id.
    pub not_recovered: u64,
    /// Tether's reasons for `recovered: false`, and how often.
    pub reasons: BTreeMap<String, u64>,
    /// Reconnections that got a new client id (Tether: the resume token was not honoured).
    pub new_identity: u64,
    /// Tether: rooms whose latest stored `seq` (`history`, after the run) is not the highest
    /// acked one.
    pub store_top_mismatches: Option<u64>,
    /// Connection attempts that failed and were retried.
    pub retries: u64,
    /// The server's CPU time from the moment it listened again (or the drop) to the last client
    /// back, all its threads.
    pub server_cpu_seconds: f64,
    /// The generator's over the same time, on the same cores.
    pub generator_cpu_seconds: f64,
}

impl ResumeStormResult {
    /// [`seconds`](Self::seconds) when every client came back, infinite otherwise.
    pub fn back_seconds(&self) -> f64 {
        if self.not_back == 0 {
            self.seconds
        } else {
            f64::INFINITY
        }
    }

    /// The server's CPU time per client brought back, in microseconds.
    pub fn server_cpu_micros_per_client(&self) -> f64 {
        self.server_cpu_seconds * 1e6 / self.clients as f64
    }
}

impl ResumeStorm {
    /// `clients` clients in rooms of 10, one publisher per room at 1 message/s (a busy chat:
    /// every room gets a message a second), 3 s before the fault and 2 s after, 500 handshakes
    /// in flight.
    pub fn new(clients: usize) -> Self {
        Self {
            clients,
            room_size: 10,
            publishers_per_room: 1,
            rate: 1.0,
            before: Duration::from_secs(3),
            after: Duration::from_secs(2),
            settle: Duration::from_secs(1),
            concurrency: 500,
            back_timeout: Duration::from_secs(120),
        }
    }

    /// Members per room.
    pub fn room_size(mut self, room_size: usize) -> Self {
        self.room_size = room_size;
        self
    }

    /// Publishers per room, at most the room's size.
    pub fn publishers_per_room(mut self, publishers: usize) -> Self {
        self.publishers_per_room = publishers;
        self
    }

    /// Messages per second, per publisher.
    pub fn rate(mut self, per_second: f64) -> Self {
        self.rate = per_second;
        self
    }

    /// Publishing before the fault.
    pub fn before(mut self, before: Duration) -> Self {
        self.before = before;
        self
    }

    /// Publishing after the server is back (or the drop).
    pub fn after(mut self, after: Duration) -> Self {
        self.after = after;
        self
    }

    /// How long the rooms settle after the last ack, before the clients check what they saw.
    pub fn settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// How many handshakes may be in flight at once.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// How long clients have to come back (2 minutes by default, Socket.IO's own limit for a
    /// recovery): those that have not are counted as not back, and what they missed as lost.
    pub fn back_timeout(mut self, limit: Duration) -> Self {
        self.back_timeout = limit;
        self
    }

    /// Runs against `endpoint`, served by process `server_pid`. With [`Fault::Kill`], `crash`
    /// kills the server and returns the new one's process id once it listens; with
    /// [`Fault::Drop`] it is not called.
    pub async fn run<F>(
        &self,
        endpoint: &Endpoint,
        server_pid: u32,
        fault: Fault,
        crash: F,
        label: &str,
    ) -> Result<ResumeStormResult>
    where
        F: AsyncFnOnce() -> Result<u32>,
    {
        ensure!(self.clients > 0, "at least one client");
        ensure!(self.room_size > 0, "rooms of at least one member");
        ensure!(
            (1..=self.room_size).contains(&self.publishers_per_room),
            "between 1 and {} publishers per room",
            self.room_size
        );
        ensure!(self.rate > 0.0, "a positive rate");
        ensure!(self.concurrency > 0, "at least one handshake at a time");
        check_fd_limit("self", "the generator", self.clients)?;
        let mut progress = Progress::new(label);
        let rooms = self.clients.div_ceil(self.room_size);
        let (event_tx, mut events) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            endpoint: endpoint.clone(),
            handshakes: Semaphore::new(self.concurrency),
            events: event_tx,
            room_size: self.room_size,
            publishers_per_room: self.publishers_per_room,
            period: Duration::from_secs_f64(1.0 / self.rate),
            room_tops: (0..rooms).map(|_| AtomicU64::new(0)).collect(),
            published: (0..self.clients).map(|_| AtomicU64::new(0)).collect(),
        });
        let publishers = (0..self.clients).filter(|&i| shared.publishes(i)).count();
        progress.say(format_args!(
            "{} clients in rooms of {}, {publishers} publishing at {} msg/s: connecting",
            self.clients, self.room_size, self.rate
        ));
        let (control, control_rx) = watch::channel(Control::default());
        let mut tasks = JoinSet::new();
        for index in 0..self.clients {
            let client = Client::new(index, Arc::clone(&shared), control_rx.clone());
            tasks.spawn(client.run());
        }
        drop(control_rx);
        let mut counts = Counts::default();
        let mut watch = Watch {
            events: &mut events,
            tasks: &mut tasks,
            progress: &mut progress,
            counts: &mut counts,
        };
        watch.until(None, |c| c.joined == self.clients).await?;
        watch.progress.say("all joined; publishing");
        control.send_modify(|c| c.publishing = true);
        watch
            .until(Some(Instant::now() + self.before), |_| false)
            .await?;

        let server_pid = match fault {
            Fault::Kill => {
                watch.progress.say("kill -9 the server, start it again");
                crash().await.context("killing and restarting the server")?
            }
            Fault::Drop => server_pid,
        };
        let cpu_from = (cpu_time(&server_pid.to_string())?, cpu_time("self")?);
        let back_from = Instant::now();
        match fault {
            Fault::Kill => {
                control.send_modify(|c| c.server_generation += 1);
                watch
                    .progress
                    .say("the server listens again: clients resume");
            }
            Fault::Drop => {
                control.send_modify(|c| c.drops += 1);
                watch
                    .progress
                    .say("every connection dropped: clients resume");
            }
        }
        let quiet_at = back_from + self.after;
        let give_up_at = back_from + self.back_timeout;
        let mut quiet = false;
        let mut cpu_back = None;
        loop {
            let all_back = watch.counts.back == self.clients;
            if all_back && cpu_back.is_none() {
                cpu_back = Some((cpu_time(&server_pid.to_string())?, cpu_time("self")?));
            }
            let now = Instant::now();
            if !quiet && now >= quiet_at {
                quiet = true;
                control.send_modify(|c| c.quiet = true);
                watch.progress.say("publishing stops");
            }
            if quiet && (all_back || now >= give_up_at) {
                break;
            }
            let deadline = if quiet {
                give_up_at
            } else {
                quiet_at.min(give_up_at)
            };
            let first_back = cpu_back.is_none();
            watch
                .until(Some(deadline), |c| {
                    c.back == self.clients && (quiet || first_back)
                })
                .await?;
        }
        let not_back = self.clients - watch.counts.back;
        let seconds = match (not_back, watch.counts.last_back) {
            (0, Some(last)) => last.duration_since(back_from).as_secs_f64(),
            _ => self.back_timeout.as_secs_f64(),
        };
        let (server_cpu, generator_cpu) = match cpu_back {
            Some(cpu) => cpu,
            None => (cpu_time(&server_pid.to_string())?, cpu_time("self")?),
        };
        let server_cpu_seconds = server_cpu.saturating_sub(cpu_from.0).as_secs_f64();
        let generator_cpu_seconds = generator_cpu.saturating_sub(cpu_from.1).as_secs_f64();
        if not_back == 0 {
            watch.progress.say(format_args!(
                "all {} back in {seconds:.2} s; waiting for the last acks",
                self.clients
            ));
        } else {
            watch.progress.say(format_args!(
                "{not_back} of {} clients not back after {seconds:.0} s; waiting for the last \
                 acks of the others",
                self.clients
            ));
        }
        let drain_until = Instant::now() + DRAIN_TIMEOUT;
        watch
            .until(Some(drain_until), |c| c.drained == publishers)
            .await?;
        watch
            .until(Some(Instant::now() + self.settle), |_| false)
            .await?;
        let lost_connections = watch.counts.lost;
        let retries = watch.counts.retries;
        control.send_modify(|c| c.stop = true);
        let mut total = Tally::default();
        while let Some(result) = tasks.join_next().await {
            total.add(&result.context("a client task panicked")??);
        }
        if fault == Fault::Kill {
            ensure!(
                lost_connections == self.clients,
                "{} of {} clients did not see the server go",
                self.clients - lost_connections,
                self.clients
            );
        }
        let tether = endpoint.dialect() == crate::Dialect::Guide;
        let result = ResumeStormResult {
            fault,
            clients: self.clients,
            room_size: self.room_size,
            publishers,
            rate: self.rate,
            seconds,
            not_back,
            published: total.published,
            unacked_at_fault: total.unacked_at_fault,
            resent: total.resent,
            unacked_at_end: total.unacked_at_end,
            acked_duplicate: total.acked_duplicate,
            refused: total.refused,
            expected: total.expected,
            delivered: total.delivered,
            replayed: total.replayed,
            lost: total.lost,
            duplicated: total.duplicated,
            seq_gaps: tether.then_some(total.seq_gaps),
            seq_repeats: tether.then_some(total.seq_repeats),
            not_recovered: total.not_recovered,
            reasons: total.reasons,
            new_identity: total.new_identity,
            store_top_mismatches: tether.then_some(total.store_top_mismatches),
            retries,
            server_cpu_seconds,
            generator_cpu_seconds,
        };
        progress.say(format_args!(
            "server CPU {:.2} s ({:.0} µs per client), generator {:.2} s; {} published, {} \
             deliveries owed: {} lost, {} duplicated, {} replayed, {} not recovered",
            result.server_cpu_seconds,
            result.server_cpu_micros_per_client(),
            result.generator_cpu_seconds,
            result.published,
            result.expected,
            result.lost,
            result.duplicated,
            result.replayed,
            result.not_recovered
        ));
        Ok(result)
    }
}

#[derive(Debug, Default)]
struct Counts {
    joined: usize,
    lost: usize,
    back: usize,
    drained: usize,
    retries: u64,
    last_back: Option<Instant>,
}

/// The storm's view of its clients while it waits.
struct Watch<'a> {
    events: &'a mut mpsc::UnboundedReceiver<Event>,
    tasks: &'a mut JoinSet<Result<Tally>>,
    progress: &'a mut Progress,
    counts: &'a mut Counts,
}

impl Watch<'_> {
    /// Collects events until `done` holds or `deadline` passes, printing progress; fails if a
    /// client fails.
    async fn until(
        &mut self,
        deadline: Option<Instant>,
        done: impl Fn(&Counts) -> bool,
    ) -> Result<()> {
        let deadline = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400));
        while !done(self.counts) {
            tokio::select! {
                event = self.events.recv() => match event {
                    Some(Event::Joined) => self.counts.joined += 1,
                    Some(Event::Lost) => self.counts.lost += 1,
                    Some(Event::Retried) => self.counts.retries += 1,
                    Some(Event::Back { at }) => {
                        self.counts.back += 1;
                        self.counts.last_back = self.counts.last_back.max(Some(at));
                    }
                    Some(Event::Drained) => self.counts.drained += 1,
                    None => bail!("every client stopped"),
                },
                Some(result) = self.tasks.join_next() => {
                    result.context("a client task panicked")??;
                    bail!("a client stopped early");
                }
                _ = sleep_until(deadline) => return Ok(()),
                _ = self.progress.tick() => self.progress.say(format_args!(
                    "joined {}, lost {}, back {}, drained {}",
                    self.counts.joined, self.counts.lost, self.counts.back, self.counts.drained
                )),
            }
        }
        Ok(())
    }
}
