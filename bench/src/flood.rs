//! The flood scenario: ordinary members chatting at a person's pace, with and without a flooder
//! in their room.

use crate::{
    BenchSocket, Endpoint, Flooder, FlooderFate, Incoming, LatencyRecorder, LatencySummary,
    bench_socket::ServerClosed,
    cpu_time::cpu_time,
    fan_out::parse_text,
    latency::{LocalLatency, now_micros},
    memory::{Memory, RssWatch, check_fd_limit},
    progress::Progress,
    server_metrics::ServerMetrics,
};
use anyhow::{Context, Result, ensure};
use serde::Serialize;
use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::{
    sync::{Semaphore, mpsc, watch},
    task::JoinSet,
    time::{Instant, MissedTickBehavior, interval_at},
};

/// Who floods the room while the members chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flooding {
    /// Nobody: the baseline.
    None,
    /// One [`Flooder`] connection, as fast as it can, until the server closes it.
    One,
    /// One [`Flooder`] that connects again at once each time it is closed, for the whole run:
    /// the per-connection limits met by a client that does not give up.
    Reconnecting,
}

impl Flooding {
    /// Every kind, in the order the suite runs them.
    pub const ALL: [Flooding; 3] = [Self::None, Self::One, Self::Reconnecting];

    /// The name used on the command line and in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::One => "one",
            Self::Reconnecting => "reconnecting",
        }
    }

    /// What it is, for tables.
    pub fn title(self) -> &'static str {
        match self {
            Self::None => "no flooder",
            Self::One => "one flooder",
            Self::Reconnecting => "a flooder that reconnects",
        }
    }

    /// Parses [`name`](Self::name).
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .with_context(|| format!("unknown flooding {name:?}: none, one or reconnecting"))
    }

    fn flooder(self) -> Option<Flooder> {
        match self {
            Self::None => None,
            Self::One => Some(Flooder::default()),
            Self::Reconnecting => Some(Flooder::default().reconnect(true)),
        }
    }
}

/// `members` connections join one room; each sends a chat message every `interval` (spread over
/// the interval, so the room hears `members / interval` messages a second), carrying its send
/// time; every member records each delivery's latency. A [`Flooder`], when there is one, floods
/// the same room for the same time. Run against a server with its default limits, this shows
/// what one flooder does to everyone else: the members must lose nothing and never be closed.
#[derive(Debug, Clone)]
pub struct Flood {
    members: usize,
    interval: Duration,
    measure: Duration,
    drain: Duration,
    flooding: Flooding,
    room: String,
    sample_every: Duration,
}

/// What a flood run measured.
#[derive(Debug, Clone, Serialize)]
pub struct FloodResult {
    /// Ordinary members in the room.
    pub members: usize,
    /// Chat messages per second into the room from the members, all together.
    pub room_rate: f64,
    /// How long the members chatted (and the flooder flooded), in seconds.
    pub seconds: f64,
    /// Who flooded the room.
    pub flooding: Flooding,
    /// The members' messages.
    pub sent: u64,
    /// Deliveries of the members' messages owed: each to every member but its sender.
    pub expected: u64,
    /// Deliveries of the members' messages that arrived.
    pub received: u64,
    /// `expected − received`.
    pub lost: u64,
    /// Send-to-receive latency of every delivery of a member's message.
    pub latency: LatencySummary,
    /// Members the server closed (or that failed) before the end.
    pub members_closed: usize,
    /// How those members ended, by close code or error.
    pub member_endings: BTreeMap<String, u64>,
    /// Deliveries of the flooder's messages to the members, all together.
    pub flooder_deliveries: u64,
    /// What happened to the flooder.
    pub flooder: Option<FlooderFate>,
    /// The server's counters over the run (gauges at the end), from `/metrics`.
    pub server: ServerMetrics,
    /// The server's `VmRSS` before the members connected, in KiB.
    pub rss_before_kib: u64,
    /// The largest `VmRSS` sampled during the run, in KiB.
    pub rss_peak_kib: u64,
    /// The server's `VmRSS` at the end, members still connected, in KiB.
    pub rss_end_kib: u64,
    /// CPU time the server used while the members chatted, in seconds.
    pub server_cpu_seconds: f64,
}

impl FloodResult {
    /// `tether_slow_consumer_closes_total` over the run.
    pub fn slow_consumer_closes(&self) -> f64 {
        self.server.get("tether_slow_consumer_closes_total")
    }
}

/// What members share.
#[derive(Debug, Default)]
struct Totals {
    sent: AtomicU64,
    received: AtomicU64,
}

/// What one member saw.
#[derive(Debug, Default)]
struct MemberReport {
    flooder_deliveries: u64,
    /// How it ended before being told to stop, if it did.
    ended: Option<String>,
}

impl Flood {
    /// 100 members, one message every 2 s each (50 a second into the room, 5,000 deliveries a
    /// second), 15 s, no flooder.
    pub fn new(members: usize) -> Self {
        Self {
            members,
            interval: Duration::from_secs(2),
            measure: Duration::from_secs(15),
            drain: Duration::from_secs(3),
            flooding: Flooding::None,
            room: "bench-flood".to_owned(),
            sample_every: Duration::from_millis(50),
        }
    }

    /// How often each member sends.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// How long the members chat.
    pub fn measure(mut self, measure: Duration) -> Self {
        self.measure = measure;
        self
    }

    /// How long to wait, after the last message, for the last deliveries.
    pub fn drain(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }

    /// Who floods the room while the members chat.
    pub fn flooding(mut self, flooding: Flooding) -> Self {
        self.flooding = flooding;
        self
    }

    /// The members in the room.
    pub fn members(&self) -> usize {
        self.members
    }

    /// How long the members chat.
    pub fn measure_time(&self) -> Duration {
        self.measure
    }

    /// Runs against `endpoint`, a Tether server whose process is `pid`.
    pub async fn run(&self, endpoint: &Endpoint, pid: u32, label: &str) -> Result<FloodResult> {
        ensure!(self.members >= 2, "a room of at least 2 members");
        ensure!(!self.interval.is_zero(), "a positive interval");
        check_fd_limit("self", "the generator", self.members + 1)?;
        let mut progress = Progress::new(label);
        let metrics_before = ServerMetrics::scrape(endpoint.server()).await?;
        let rss_before_kib = Memory::read(pid)?.rss_kib;
        let watch = RssWatch::start(pid, self.sample_every)?;
        progress.say(format_args!(
            "{} members, one message each every {:?}, {}: connecting",
            self.members,
            self.interval,
            self.flooding.title()
        ));

        let totals = Arc::new(Totals::default());
        let recorder = LatencyRecorder::new();
        let (go_tx, go_rx) = watch::channel::<Option<(Instant, Instant)>>(None);
        let (stop_tx, stop_rx) = watch::channel(false);
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<()>();
        let handshakes = Arc::new(Semaphore::new(100));
        let mut tasks = JoinSet::new();
        for index in 0..self.members {
            let member = Member {
                index,
                members: self.members,
                interval: self.interval,
                room: self.room.clone(),
                totals: Arc::clone(&totals),
                latency: recorder.local(),
                go: go_rx.clone(),
                stop: stop_rx.clone(),
            };
            let endpoint = endpoint.clone();
            let handshakes = Arc::clone(&handshakes);
            let ready_tx = ready_tx.clone();
            tasks.spawn(async move {
                let permit = handshakes.acquire_owned().await?;
                let mut socket = endpoint.connect(index, 4096).await?;
                socket.join(&member.room).await?;
                drop(permit);
                let _ = ready_tx.send(());
                anyhow::Ok(member.run(socket).await)
            });
        }
        drop(ready_tx);
        let mut joined = 0;
        while joined < self.members {
            tokio::select! {
                one = ready_rx.recv() => match one {
                    Some(()) => joined += 1,
                    None => break,
                },
                _ = progress.tick() => progress.say(format_args!("{joined}/{} joined", self.members)),
            }
        }
        if joined < self.members {
            while let Some(result) = tasks.join_next().await {
                result.context("a member task panicked")??;
            }
            anyhow::bail!("only {joined} of {} members joined", self.members);
        }
        // Let the joins' announcements drain before chatting.
        tokio::time::sleep(Duration::from_millis(500)).await;

        let start = Instant::now();
        let end = start + self.measure;
        let cpu_start = cpu_time(&pid.to_string())?;
        go_tx.send_replace(Some((start, end)));
        let flooder = self.flooding.flooder().map(|flooder| {
            let endpoint = endpoint.clone();
            let room = self.room.clone();
            tokio::spawn(async move { flooder.room(room).run(&endpoint, end).await })
        });
        progress.say(format_args!(
            "all joined; chatting for {} s",
            self.measure.as_secs_f64()
        ));
        let mut last = 0;
        while Instant::now() < end {
            tokio::select! {
                () = tokio::time::sleep_until(end) => {}
                _ = progress.tick() => {
                    let received = totals.received.load(Ordering::Relaxed);
                    progress.say(format_args!(
                        "{} deliveries/s, server RSS peak {:.1} MiB",
                        received - last,
                        watch.peak_kib() as f64 / 1024.0
                    ));
                    last = received;
                }
            }
        }
        let server_cpu_seconds = (cpu_time(&pid.to_string())? - cpu_start).as_secs_f64();
        let flooder = match flooder {
            Some(task) => Some(task.await.context("the flooder panicked")??),
            None => None,
        };
        // Every member has sent its last message by now; wait for their deliveries.
        let expected = || totals.sent.load(Ordering::Acquire) * (self.members as u64 - 1);
        let drain_until = Instant::now() + self.drain;
        while totals.received.load(Ordering::Acquire) < expected() && Instant::now() < drain_until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let rss_end_kib = Memory::read(pid)?.rss_kib;
        let rss_peak_kib = watch.finish().await?;
        let server = ServerMetrics::scrape(endpoint.server())
            .await?
            .since(&metrics_before);
        stop_tx.send_replace(true);
        let mut flooder_deliveries = 0;
        let mut member_endings = BTreeMap::new();
        while let Some(report) = tasks.join_next().await {
            let report = report.context("a member task panicked")??;
            flooder_deliveries += report.flooder_deliveries;
            if let Some(ending) = report.ended {
                *member_endings.entry(ending).or_insert(0) += 1;
            }
        }
        let sent = totals.sent.load(Ordering::Acquire);
        let received = totals.received.load(Ordering::Acquire);
        let result = FloodResult {
            members: self.members,
            room_rate: self.members as f64 / self.interval.as_secs_f64(),
            seconds: self.measure.as_secs_f64(),
            flooding: self.flooding,
            sent,
            expected: expected(),
            received,
            lost: expected().saturating_sub(received),
            latency: recorder.summary(),
            members_closed: member_endings.values().sum::<u64>() as usize,
            member_endings,
            flooder_deliveries,
            flooder,
            server,
            rss_before_kib,
            rss_peak_kib,
            rss_end_kib,
            server_cpu_seconds,
        };
        progress.say(format_args!(
            "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} of {} deliveries; {} members closed",
            result.latency.p50_ms,
            result.latency.p99_ms,
            result.latency.max_ms,
            result.received,
            result.expected,
            result.members_closed
        ));
        Ok(result)
    }
}

/// One ordinary member's connection task.
#[derive(Debug)]
struct Member {
    index: usize,
    members: usize,
    interval: Duration,
    room: String,
    totals: Arc<Totals>,
    latency: LocalLatency,
    go: watch::Receiver<Option<(Instant, Instant)>>,
    stop: watch::Receiver<bool>,
}

impl Member {
    /// Chats and reads until told to stop; a close or error before that is reported, not
    /// returned, so that one closed member does not hide what the others saw.
    async fn run(self, mut socket: BenchSocket) -> MemberReport {
        let Member {
            index,
            members,
            interval,
            room,
            totals,
            mut latency,
            mut go,
            mut stop,
        } = self;
        let mut report = MemberReport::default();
        let Ok(window) = go.wait_for(Option::is_some).await.map(|w| *w) else {
            return report;
        };
        let Some((start, end)) = window else {
            return report;
        };
        // Spread the members over the interval, as people would be.
        let offset = interval.mul_f64(index as f64 / members as f64);
        let mut ticks = interval_at(start + offset, interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut seq = 0u64;
        let stopped = async { stop.wait_for(|stop| *stop).await.map(drop) };
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                text = socket.recv() => {
                    let text = match text {
                        Ok(text) => text,
                        Err(err) => {
                            report.ended = Some(ending(&err));
                            break;
                        }
                    };
                    if let Incoming::Message { text } = socket.dialect().parse(&text) {
                        if let Some((_, sent_at)) = parse_text(text) {
                            latency.record(now_micros().saturating_sub(sent_at));
                            totals.received.fetch_add(1, Ordering::Relaxed);
                        } else if text.starts_with('f') {
                            report.flooder_deliveries += 1;
                        }
                    }
                }
                _ = ticks.tick(), if Instant::now() < end => {
                    if Instant::now() >= end {
                        continue;
                    }
                    let text = format!("b{index}:{seq}:{}", now_micros());
                    seq += 1;
                    totals.sent.fetch_add(1, Ordering::Release);
                    let message = socket.dialect().message(&room, &text);
                    if let Err(err) = socket.send(message).await {
                        report.ended = Some(ending(&err));
                        break;
                    }
                }
            }
        }
        latency.flush();
        if report.ended.is_none() {
            socket.close().await;
        }
        report
    }
}

/// How a member's connection ended, for the report: the close code, or the error.
fn ending(err: &anyhow::Error) -> String {
    match err.downcast_ref::<ServerClosed>() {
        Some(ServerClosed {
            code: Some(code), ..
        }) => code.to_string(),
        Some(ServerClosed { code: None, .. }) => "closed without a code".to_owned(),
        None => format!("{err:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_is_reported_by_its_code_and_anything_else_by_its_error() {
        let closed = anyhow::Error::new(ServerClosed {
            code: Some(1013),
            reason: "slow consumer".into(),
        });
        assert_eq!(ending(&closed), "1013");
        assert_eq!(
            ending(&anyhow::anyhow!("the server dropped the connection")),
            "the server dropped the connection"
        );
    }
}
