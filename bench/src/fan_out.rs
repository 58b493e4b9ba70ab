//! The fan-out scenario: members in one room, some of them sending, everyone receiving.

use crate::{
    BenchSocket, Endpoint, Incoming, LatencyRecorder, LatencySummary, Placement,
    cpu_time::cpu_time,
    latency::{LocalLatency, now_micros},
    memory::check_fd_limit,
    progress::Progress,
};
use anyhow::{Context, Result, bail, ensure};
use futures_util::FutureExt;
use serde::Serialize;
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::{
    sync::{Notify, Semaphore, mpsc, watch},
    task::JoinSet,
    time::{Instant, Interval, MissedTickBehavior, interval_at, sleep_until},
};

/// How senders pace their messages.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pace {
    /// Each sender sends as fast as the room keeps up: it waits while more than `window` of its
    /// messages are still unseen by some member (counted in deliveries: `window × (members − 1)`).
    /// Throughput is then what the server sustains, not what the generator offers.
    ClosedLoop {
        /// Messages a sender may have in flight.
        window: usize,
    },
    /// Each sender sends at a fixed rate, whatever happens: for latency under a steady load.
    Rate {
        /// Messages per second, per sender.
        per_second: f64,
    },
}

/// `members` connections join one room; `senders` of them send chat messages carrying a
/// sequence number and a timestamp; every member records each message's end-to-end latency.
///
/// The run warms up, measures for a fixed time, then lets the room drain and checks that every
/// message reached every member but its sender (the guide's broadcast excludes the sender).
#[derive(Debug, Clone)]
pub struct FanOut {
    members: usize,
    senders: usize,
    pace: Pace,
    warmup: Duration,
    measure: Duration,
    drain: Duration,
    room: String,
    read_buffer: usize,
    connect_concurrency: usize,
    server_pids: Vec<u32>,
    redis_pid: Option<u32>,
}

/// What a fan-out run measured.
#[derive(Debug, Clone, Serialize)]
pub struct FanOutResult {
    /// Connections in the room.
    pub members: usize,
    /// How many of them sent.
    pub senders: usize,
    /// How they paced their messages.
    pub pace: Pace,
    /// How many of the members connected to each server node (one entry for a single server).
    pub members_per_node: Vec<usize>,
    /// The measured window, in seconds.
    pub seconds: f64,
    /// Messages sent during the whole run (warm-up included).
    pub sent: u64,
    /// Deliveries to members during the measured window.
    pub delivered: u64,
    /// `delivered` per second.
    pub delivered_per_second: f64,
    /// Deliveries that never arrived: every message should reach `members − 1` members.
    pub lost: u64,
    /// Send-to-receive latency of the deliveries in the measured window.
    pub latency: LatencySummary,
    /// CPU time the server used during the measured window, in seconds (when its pid is known;
    /// every node's together when there are several).
    pub server_cpu_seconds: Option<f64>,
    /// CPU time Redis used during the measured window, in seconds, when the nodes share one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_cpu_seconds: Option<f64>,
    /// CPU time the generator used during the measured window, in seconds: it shares the
    /// machine with the server.
    pub generator_cpu_seconds: f64,
}

impl FanOutResult {
    /// The server's CPU time per delivery in the measured window, in microseconds.
    pub fn server_cpu_micros_per_delivery(&self) -> Option<f64> {
        let seconds = self.server_cpu_seconds?;
        (self.delivered > 0).then(|| seconds * 1e6 / self.delivered as f64)
    }

    /// The generator's CPU time per delivery in the measured window, in microseconds.
    pub fn generator_cpu_micros_per_delivery(&self) -> Option<f64> {
        (self.delivered > 0).then(|| self.generator_cpu_seconds * 1e6 / self.delivered as f64)
    }
}

/// The measured window, sent to every member when all have joined.
#[derive(Debug, Clone, Copy)]
struct Window {
    end: Instant,
    // The same window on the messages' clock, compared with one clock reading per delivery.
    start_micros: u64,
    end_micros: u64,
}

/// How many buffered frames a member reads before it publishes its counts and lets its sender
/// side run.
const MAX_BURST: usize = 256;

/// An atomic counter on a cache line of its own: senders' counters are written by every member
/// on both cores, and sharing a line would make each write evict the others'.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Counter(AtomicU64);

impl std::ops::Deref for Counter {
    type Target = AtomicU64;

    fn deref(&self) -> &AtomicU64 {
        &self.0
    }
}

/// What senders and receivers share.
#[derive(Debug)]
struct Shared {
    room: String,
    pace: Pace,
    /// Members that receive each message: all but its sender.
    receivers: u64,
    /// Per sender: messages sent.
    sent: Vec<Counter>,
    /// Per sender: deliveries of its messages so far, to anyone.
    delivered: Vec<Counter>,
    /// Per sender: the delivery count it waits for (0: not waiting).
    want: Vec<Counter>,
    /// Per sender: woken when `delivered` reaches `want`.
    wake: Vec<Notify>,
    /// Senders that have sent their last message.
    finished: AtomicUsize,
}

impl Shared {
    fn total_sent(&self) -> u64 {
        self.sent.iter().map(|n| n.load(Ordering::Relaxed)).sum()
    }

    fn total_delivered(&self) -> u64 {
        self.delivered
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .sum()
    }

    /// Counts `n` deliveries of sender `s`'s messages and wakes the sender if it was waiting for
    /// them.
    fn delivered(&self, s: usize, n: u64) {
        let now = self.delivered[s].fetch_add(n, Ordering::AcqRel) + n;
        let want = self.want[s].load(Ordering::Acquire);
        if want != 0
            && now >= want
            && self.want[s]
                .compare_exchange(want, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.wake[s].notify_one();
        }
    }
}

impl FanOut {
    /// `members` in one room, `senders` of them sending at `pace`; 2 s of warm-up, 10 s measured.
    pub fn new(members: usize, senders: usize, pace: Pace) -> Self {
        Self {
            members,
            senders,
            pace,
            warmup: Duration::from_secs(2),
            measure: Duration::from_secs(10),
            drain: Duration::from_secs(5),
            room: "bench-fan-out".to_owned(),
            // Tungstenite zero-fills its whole read buffer before every read: big enough to take
            // a batch of frames in one read, small enough not to spend the run on memset.
            read_buffer: 4096,
            connect_concurrency: 200,
            server_pids: Vec::new(),
            redis_pid: None,
        }
    }

    /// How long to send before measuring.
    pub fn warmup(mut self, warmup: Duration) -> Self {
        self.warmup = warmup;
        self
    }

    /// How long to measure.
    pub fn measure(mut self, measure: Duration) -> Self {
        self.measure = measure;
        self
    }

    /// How long to wait, after sending stops, for the last deliveries.
    pub fn drain(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }

    /// The server's process id: its CPU time in the measured window is then reported too.
    pub fn server_pid(mut self, pid: u32) -> Self {
        self.server_pids = vec![pid];
        self
    }

    /// The process ids of every node of a cluster: their CPU time together is reported.
    pub fn server_pids(mut self, pids: Vec<u32>) -> Self {
        self.server_pids = pids;
        self
    }

    /// The process id of the Redis the nodes share: its CPU time is reported apart.
    pub fn redis_pid(mut self, pid: u32) -> Self {
        self.redis_pid = Some(pid);
        self
    }

    /// The room the members join.
    pub fn room(mut self, room: impl Into<String>) -> Self {
        self.room = room.into();
        self
    }

    /// Runs the scenario against `endpoint`, printing progress under `label`.
    pub async fn run(&self, endpoint: &Endpoint, label: &str) -> Result<FanOutResult> {
        self.run_placed(&Placement::one(endpoint.clone()), label)
            .await
    }

    /// Runs the scenario with each member connected to the node `placement` gives it: one room,
    /// served by several nodes that share it.
    pub async fn run_placed(&self, placement: &Placement, label: &str) -> Result<FanOutResult> {
        ensure!(self.members >= 2, "a fan-out needs at least 2 members");
        ensure!(
            (1..=self.members).contains(&self.senders),
            "senders must be between 1 and the number of members"
        );
        match self.pace {
            Pace::ClosedLoop { window } => ensure!(window >= 2, "the window must be at least 2"),
            Pace::Rate { per_second } => ensure!(
                per_second > 0.0 && per_second.is_finite(),
                "the rate must be positive"
            ),
        }
        check_fd_limit("self", "the generator", self.members)?;
        let mut progress = Progress::new(label);
        let members_per_node = placement.members_per_node(self.members, self.senders);
        progress.say(format_args!(
            "{} members, {} senders, {:?}: connecting{}",
            self.members,
            self.senders,
            self.pace,
            match placement.nodes() {
                1 => String::new(),
                _ => format!(" (members per node: {members_per_node:?})"),
            }
        ));

        let shared = Arc::new(Shared {
            room: self.room.clone(),
            pace: self.pace,
            receivers: self.members as u64 - 1,
            sent: (0..self.senders).map(|_| Counter::default()).collect(),
            delivered: (0..self.senders).map(|_| Counter::default()).collect(),
            want: (0..self.senders).map(|_| Counter::default()).collect(),
            wake: (0..self.senders).map(|_| Notify::new()).collect(),
            finished: AtomicUsize::new(0),
        });
        let recorder = LatencyRecorder::new();
        let (go_tx, go_rx) = watch::channel(None);
        let (stop_tx, stop_rx) = watch::channel(false);
        // Each member, once joined: its node and the room's size there as `joined` gave it.
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<(usize, usize)>();
        let handshakes = Arc::new(Semaphore::new(self.connect_concurrency));
        let mut tasks = JoinSet::new();
        for index in 0..self.members {
            let member = Member {
                index,
                sender: (index < self.senders).then_some(index),
                shared: Arc::clone(&shared),
                latency: recorder.local(),
                go: go_rx.clone(),
                stop: stop_rx.clone(),
            };
            let node = placement.node_of(index, self.senders);
            let endpoint = placement.endpoint(node).clone();
            let handshakes = Arc::clone(&handshakes);
            let ready_tx = ready_tx.clone();
            let read_buffer = self.read_buffer;
            tasks.spawn(async move {
                let permit = handshakes.acquire_owned().await?;
                let mut socket = endpoint.connect(index, read_buffer).await?;
                let members = socket.join(&member.shared.room).await?;
                drop(permit);
                let _ = ready_tx.send((node, members));
                member.run(socket).await
            });
        }
        drop(ready_tx);

        // Everyone in; the last joiner sees the full room.
        let mut largest = vec![0; placement.nodes()];
        let mut joined = 0;
        while joined < self.members {
            tokio::select! {
                members = ready_rx.recv() => match members {
                    Some((node, members)) => {
                        joined += 1;
                        largest[node] = largest[node].max(members);
                    }
                    None => return Err(first_failure(&mut tasks).await),
                },
                _ = progress.tick() => progress.say(format_args!("{joined}/{} joined", self.members)),
            }
        }
        // A node may count the room's members on that node only (Tether's and Socket.IO's nodes
        // do) or on every node; anything else means the room was not empty.
        for (node, (&seen, &here)) in largest.iter().zip(&members_per_node).enumerate() {
            ensure!(
                seen == here || seen == self.members,
                "the room had {seen} members at most on node {node}, expected {here} there or \
                 {} in all (was it empty?)",
                self.members
            );
        }
        // Let the `user:joined` flood of the joins drain before sending.
        tokio::time::sleep(Duration::from_millis(500)).await;

        let start = now_micros() + self.warmup.as_micros() as u64;
        let window = Window {
            end: Instant::now() + self.warmup + self.measure,
            start_micros: start,
            end_micros: start + self.measure.as_micros() as u64,
        };
        go_tx.send_replace(Some(window));
        progress.say(format_args!(
            "all joined; sending ({} s warm-up, {} s measured)",
            self.warmup.as_secs_f64(),
            self.measure.as_secs_f64()
        ));
        // CPU time of the server (every node's), of Redis and of this process over the measured
        // window.
        let cpu_now = || -> Result<(Option<Duration>, Option<Duration>, Duration)> {
            let server = match self.server_pids.is_empty() {
                true => None,
                false => Some(
                    self.server_pids
                        .iter()
                        .map(|pid| cpu_time(&pid.to_string()))
                        .sum::<Result<Duration>>()?,
                ),
            };
            let redis = self
                .redis_pid
                .map(|pid| cpu_time(&pid.to_string()))
                .transpose()?;
            Ok((server, redis, cpu_time("self")?))
        };
        let mut cpu_start = None;
        let measure_start = window.end - self.measure;
        let mut last = 0;
        loop {
            tokio::select! {
                () = sleep_until(measure_start), if cpu_start.is_none() => cpu_start = Some(cpu_now()?),
                () = sleep_until(window.end) => break,
                _ = progress.tick() => {
                    let delivered = shared.total_delivered();
                    progress.say(format_args!("{:.0} deliveries/s", (delivered - last) as f64));
                    last = delivered;
                }
                Some(failed) = tasks.join_next() => {
                    failed.context("a member task panicked")??;
                    bail!("a member stopped early");
                }
            }
        }

        let cpu_end = cpu_now()?;
        let between = |a: Option<Duration>, b: Option<Duration>| {
            a.zip(b).map(|(a, b)| b.saturating_sub(a).as_secs_f64())
        };
        let (server_cpu_seconds, redis_cpu_seconds, generator_cpu_seconds) = match cpu_start {
            Some((server, redis, generator)) => (
                between(server, cpu_end.0),
                between(redis, cpu_end.1),
                (cpu_end.2 - generator).as_secs_f64(),
            ),
            None => (None, None, 0.0),
        };
        // Once every sender is done, let the last messages arrive, then count what never did.
        let drain_until = Instant::now() + self.drain;
        let expected = || shared.total_sent() * shared.receivers;
        while (shared.finished.load(Ordering::Acquire) < self.senders
            || shared.total_delivered() < expected())
            && Instant::now() < drain_until
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop_tx.send_replace(true);
        let mut delivered = 0;
        while let Some(member) = tasks.join_next().await {
            delivered += member.context("a member task panicked")??;
        }
        let sent = shared.total_sent();
        let lost = expected().saturating_sub(shared.total_delivered());
        let seconds = self.measure.as_secs_f64();
        let result = FanOutResult {
            members: self.members,
            senders: self.senders,
            pace: self.pace,
            members_per_node,
            seconds,
            sent,
            delivered,
            delivered_per_second: delivered as f64 / seconds,
            lost,
            latency: recorder.summary(),
            server_cpu_seconds,
            redis_cpu_seconds,
            generator_cpu_seconds,
        };
        progress.say(format_args!(
            "{:.0} deliveries/s, p50 {:.2} ms, p99 {:.2} ms, lost {lost}",
            result.delivered_per_second, result.latency.p50_ms, result.latency.p99_ms
        ));
        Ok(result)
    }
}

/// One member's connection task.
#[derive(Debug)]
struct Member {
    index: usize,
    /// The sender number, for the first `senders` members.
    sender: Option<usize>,
    shared: Arc<Shared>,
    latency: LocalLatency,
    go: watch::Receiver<Option<Window>>,
    stop: watch::Receiver<bool>,
}

impl Member {
    /// Receives (and sends, for a sender) until told to stop; returns the deliveries it counted
    /// in the measured window.
    async fn run(self, mut socket: BenchSocket) -> Result<u64> {
        let Member {
            index,
            sender,
            shared,
            mut latency,
            mut go,
            mut stop,
        } = self;
        let mut window: Option<Window> = None;
        let mut in_window = 0u64;
        let mut seq = 0u64;
        // For `Pace::Rate`: the sending clock, started by the go signal.
        let mut ticks: Option<Interval> = None;
        let mut finished = false;
        // Deliveries per sender not yet added to the shared counters.
        let mut counts = vec![0u64; shared.sent.len()];
        // Made once and polled on every turn: a fresh one per turn would register and unregister
        // a waiter on the channel, whose one lock every member then fights over.
        let stopped = async { stop.wait_for(|stop| *stop).await.map(drop) };
        tokio::pin!(stopped);
        let mut going = Box::pin(async {
            loop {
                go.changed().await?;
                if let Some(window) = *go.borrow_and_update() {
                    return anyhow::Ok(window);
                }
            }
        });
        loop {
            let sending = sender.is_some() && window.is_some_and(|w| Instant::now() < w.end);
            if sender.is_some() && window.is_some() && !sending && !finished {
                // Nothing is sent after this: the run may count what is still unseen as lost.
                finished = true;
                shared.finished.fetch_add(1, Ordering::AcqRel);
            }
            let mut may_send = 0;
            if let (true, Some(s), Pace::ClosedLoop { window: w }) = (sending, sender, shared.pace)
            {
                may_send = closed_loop_credit(&shared, s, seq, w);
                if may_send == 0 {
                    // Wake when half the window is free, and send that half in one write.
                    let wanted = seq.saturating_sub(w as u64 / 2) * shared.receivers;
                    shared.want[s].store(wanted.max(1), Ordering::Release);
                    may_send = closed_loop_credit(&shared, s, seq, w);
                }
            }
            if let (true, Some(s)) = (may_send > 0, sender) {
                for _ in 0..may_send {
                    send_one(&shared, s, &mut socket, &mut seq).await?;
                }
                socket.flush().await?;
                continue;
            }
            let wake = async {
                match sender {
                    Some(s) if matches!(shared.pace, Pace::ClosedLoop { .. }) => {
                        shared.wake[s].notified().await
                    }
                    _ => std::future::pending().await,
                }
            };
            let tick = async {
                match &mut ticks {
                    Some(ticks) => {
                        ticks.tick().await;
                    }
                    None => std::future::pending().await,
                }
            };
            let end = async {
                match window {
                    Some(w) if sending => sleep_until(w.end).await,
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                stopped = &mut stopped => {
                    stopped.context("the run was abandoned")?;
                    break;
                }
                started = &mut going, if window.is_none() => {
                    window = Some(started.context("the run was abandoned")?);
                    if let (Pace::Rate { per_second }, Some(_)) = (shared.pace, sender) {
                        let period = Duration::from_secs_f64(1.0 / per_second);
                        // Spread the senders over the period instead of sending together.
                        let offset = period.mul_f64(index as f64 / shared.sent.len() as f64);
                        let mut clock = interval_at(Instant::now() + offset, period);
                        clock.set_missed_tick_behavior(MissedTickBehavior::Delay);
                        ticks = Some(clock);
                    }
                }
                text = socket.recv() => {
                    // Take every frame already buffered, then publish the counts once: one
                    // atomic add per sender per burst instead of one per message, which both
                    // cores would otherwise fight over.
                    let mut next = Some(text);
                    let mut burst = 0;
                    // One clock reading for the burst: its frames arrived together.
                    let now = now_micros();
                    while let Some(text) = next {
                        let text = text?;
                        if let Incoming::Message { text } = socket.dialect().parse(&text)
                            && let Some((s, sent_at)) = parse_text(text)
                            && s < counts.len()
                        {
                            counts[s] += 1;
                            if let Some(w) = window
                                && now >= w.start_micros
                                && now < w.end_micros
                            {
                                in_window += 1;
                                latency.record(now.saturating_sub(sent_at));
                            }
                        }
                        burst += 1;
                        next = if burst < MAX_BURST { socket.recv().now_or_never() } else { None };
                    }
                    for (s, count) in counts.iter_mut().enumerate() {
                        if *count > 0 {
                            shared.delivered(s, *count);
                            *count = 0;
                        }
                    }
                }
                () = wake, if sending => {}
                () = tick, if sending => {
                    // The tick may win the race against the end of the window.
                    if let (Some(s), true) = (sender, window.is_some_and(|w| Instant::now() < w.end)) {
                        send_one(&shared, s, &mut socket, &mut seq).await?;
                        socket.flush().await?;
                    }
                }
                () = end => {}
            }
        }
        latency.flush();
        socket.close().await;
        Ok(in_window)
    }
}

/// How many messages sender `s` may send now without more than `window` unseen.
fn closed_loop_credit(shared: &Shared, s: usize, seq: u64, window: usize) -> u64 {
    let r = shared.receivers;
    let outstanding = (seq * r).saturating_sub(shared.delivered[s].load(Ordering::Acquire));
    (window as u64).saturating_sub(outstanding.div_ceil(r))
}

/// Queues sender `s`'s next message (the caller flushes).
async fn send_one(
    shared: &Shared,
    s: usize,
    socket: &mut BenchSocket,
    seq: &mut u64,
) -> Result<()> {
    let text = format!("b{s}:{seq}:{}", now_micros());
    *seq += 1;
    shared.sent[s].store(*seq, Ordering::Release);
    socket
        .feed(socket.dialect().message(&shared.room, &text))
        .await
}

/// The sender number and send time in a generator text `b{sender}:{seq}:{micros}`.
pub(crate) fn parse_text(text: &str) -> Option<(usize, u64)> {
    let mut parts = text.strip_prefix('b')?.split(':');
    let sender = digits(parts.next()?)?;
    let _seq = parts.next()?;
    let micros = digits(parts.next()?)?;
    Some((sender as usize, micros))
}

/// A decimal number of ASCII digits only (no sign, no overflow past `u64`).
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.bytes().try_fold(0u64, |n, b| {
        let digit = b.checked_sub(b'0').filter(|d| *d < 10)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// The error of the first member task that failed.
async fn first_failure(tasks: &mut JoinSet<Result<u64>>) -> anyhow::Error {
    while let Some(result) = tasks.join_next().await {
        match result {
            Ok(Err(err)) => return err,
            Err(err) => return anyhow::Error::new(err).context("a member task panicked"),
            Ok(Ok(_)) => {}
        }
    }
    anyhow::anyhow!("every member stopped before joining")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_texts_round_trip() {
        assert_eq!(parse_text("b3:17:123456"), Some((3, 123_456)));
        assert_eq!(parse_text("hello"), None);
        assert_eq!(parse_text("b3:17"), None);
        assert_eq!(parse_text("b3:17:-5"), None);
        assert_eq!(parse_text("b:17:5"), None);
    }

    #[test]
    fn a_sender_is_woken_once_its_messages_are_seen() {
        let shared = Shared {
            room: "r".into(),
            pace: Pace::ClosedLoop { window: 4 },
            receivers: 2,
            sent: vec![Counter(AtomicU64::new(4))],
            delivered: vec![Counter::default()],
            want: vec![Counter(AtomicU64::new(4))],
            wake: vec![Notify::new()],
            finished: AtomicUsize::new(0),
        };
        shared.delivered(0, 2);
        shared.delivered(0, 1);
        assert_eq!(shared.want[0].load(Ordering::Relaxed), 4, "not yet");
        shared.delivered(0, 1);
        assert_eq!(
            shared.want[0].load(Ordering::Relaxed),
            0,
            "woken and cleared"
        );
    }
}
