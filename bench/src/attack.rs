//! The attacks: what each one costs a Tether server running with its default limits, and what
//! happens to the attacker.

use crate::{
    BenchSocket, Endpoint, Flooder, FlooderFate, Incoming,
    latency::percentile,
    memory::{Memory, RssWatch, check_fd_limit},
    progress::Progress,
    raw_client::{self, RawClient},
    server_metrics::ServerMetrics,
};
use anyhow::{Context, Result, anyhow, ensure};
use serde::Serialize;
use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::{Semaphore, watch},
    task::JoinSet,
    time::{Instant, sleep, sleep_until, timeout},
};

/// One attack on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Attack {
    /// One client with a small receive buffer completes the handshake, then sends 125-byte
    /// pings as fast as it can and never reads.
    PingFlood,
    /// Many connections, each sending a request head one byte at a time.
    Slowloris,
    /// Many TCP connections from one address that never send a byte.
    IdleFlood,
    /// Requests with a header far over the head limit.
    BigHeaders,
    /// One client sends chat messages into a room as fast as it can while members read.
    MessageFlood,
}

impl Attack {
    /// Every attack, in the order they run.
    pub const ALL: [Attack; 5] = [
        Self::PingFlood,
        Self::Slowloris,
        Self::IdleFlood,
        Self::BigHeaders,
        Self::MessageFlood,
    ];

    /// The name used on the command line and in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::PingFlood => "ping-flood",
            Self::Slowloris => "slowloris",
            Self::IdleFlood => "idle-flood",
            Self::BigHeaders => "big-headers",
            Self::MessageFlood => "message-flood",
        }
    }

    /// Parses [`name`](Self::name).
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|attack| attack.name() == name)
            .ok_or_else(|| {
                anyhow!(
                    "unknown attack {name:?}: ping-flood, slowloris, idle-flood, big-headers or \
                     message-flood"
                )
            })
    }
}

/// The request-head timeout Tether enforces by default (`--request-head-timeout`). Only used to
/// bound how long the generator waits, with [`GRACE`] on top, so a server that does not enforce
/// it shows as "still open" instead of hanging the run.
const EXPECTED_HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// How much longer than the server's bound an attack's connection is watched.
const GRACE: Duration = Duration::from_secs(10);

/// How long, after an attack, the server is given to close what it still holds before its
/// memory is read "after".
const RELEASE_LIMIT: Duration = Duration::from_secs(15);

/// The attacks' sizes and durations; [`Attacks::default`] is the full run, [`Attacks::quick`] a
/// smoke run of a few seconds.
#[derive(Debug, Clone, Serialize)]
pub struct Attacks {
    /// Ping flood and message flood: how long the attacker sends.
    pub flood_time: Duration,
    /// Slowloris: connections.
    pub slowloris_connections: usize,
    /// Slowloris: one byte of the head every so often.
    pub slowloris_byte_every: Duration,
    /// Idle flood: connections from one address.
    pub idle_connections: usize,
    /// Big headers: requests, all at once.
    pub big_header_requests: usize,
    /// Big headers: the size of the one large header, in bytes.
    pub big_header_bytes: usize,
    /// Message flood: members reading in the flooded room.
    pub message_flood_members: usize,
    /// The request-head timeout to start the server with for the slowloris and the idle flood;
    /// `None`: the server's default (10 s).
    pub head_timeout: Option<Duration>,
    /// How often the server's `VmRSS` is sampled.
    pub sample_every: Duration,
    /// How many times each attack runs on the same server, one after the other: memory that
    /// the allocator keeps for reuse stays level from the second round on; a leak grows.
    pub rounds: usize,
}

impl Default for Attacks {
    /// Each attack at the size of the issue: 10 s floods, 500 slowloris connections at one byte
    /// a second, 10,000 idle connections, 300 heads with a 380 KB header, 5 members.
    fn default() -> Self {
        Self {
            flood_time: Duration::from_secs(10),
            slowloris_connections: 500,
            slowloris_byte_every: Duration::from_secs(1),
            idle_connections: 10_000,
            big_header_requests: 300,
            big_header_bytes: 380_000,
            message_flood_members: 5,
            head_timeout: None,
            sample_every: Duration::from_millis(50),
            rounds: 1,
        }
    }
}

/// One attack to run: the attack, and the flags the server is started with on top of its
/// defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttackRun {
    /// The attack.
    pub attack: Attack,
    /// `tether-server` flags besides the defaults.
    pub server_flags: Vec<String>,
}

impl Attacks {
    /// A smoke run: every attack, small, with a 500 ms head timeout; a few seconds in all.
    pub fn quick() -> Self {
        Self {
            flood_time: Duration::from_millis(500),
            slowloris_connections: 20,
            slowloris_byte_every: Duration::from_millis(100),
            // Just over the per-address limit, so that some are refused.
            idle_connections: 1100,
            big_header_requests: 10,
            big_header_bytes: 380_000,
            message_flood_members: 3,
            head_timeout: Some(Duration::from_millis(500)),
            sample_every: Duration::from_millis(50),
            rounds: 1,
        }
    }

    /// The runs of `attacks`, in order: each on a fresh server. The ping flood runs twice,
    /// the second time with `--message-rate 0`, so that the pong coalescing is seen on its own.
    pub fn runs(&self, attacks: &[Attack]) -> Vec<AttackRun> {
        let head: Vec<String> = match self.head_timeout {
            Some(limit) => vec![
                "--request-head-timeout".into(),
                humantime::format_duration(limit).to_string(),
            ],
            None => Vec::new(),
        };
        let mut runs = Vec::new();
        for &attack in attacks {
            let run = |flags: Vec<String>| AttackRun {
                attack,
                server_flags: flags,
            };
            match attack {
                Attack::PingFlood => {
                    runs.push(run(Vec::new()));
                    runs.push(run(vec!["--message-rate".into(), "0".into()]));
                }
                Attack::Slowloris | Attack::IdleFlood => runs.push(run(head.clone())),
                Attack::BigHeaders | Attack::MessageFlood => runs.push(run(Vec::new())),
            }
        }
        runs
    }

    /// Runs `run` against `endpoint`, a Tether server whose process is `pid`, started with
    /// `run.server_flags`, as round `round` on that server: the server's memory before, at its
    /// peak and after, its counters, and what happened to the attacker.
    pub async fn run(
        &self,
        run: &AttackRun,
        round: usize,
        endpoint: &Endpoint,
        pid: u32,
        label: &str,
    ) -> Result<AttackResult> {
        let progress = Progress::new(label);
        let metrics_before = ServerMetrics::scrape(endpoint.server()).await?;
        let rss_before_kib = Memory::read(pid)?.rss_kib;
        let watch = RssWatch::start(pid, self.sample_every)?;
        let head_timeout = self.head_timeout.unwrap_or(EXPECTED_HEAD_TIMEOUT);
        let started = Instant::now();
        let (description, outcome) = match run.attack {
            Attack::PingFlood => (
                format!(
                    "1 client, SO_RCVBUF 1 KiB, 125-byte masked pings as fast as it can for \
                     {:?}, never reads",
                    self.flood_time
                ),
                self.ping_flood(endpoint, &progress).await?,
            ),
            Attack::Slowloris => (
                format!(
                    "{} connections, each sending an upgrade request 1 byte every {:?}",
                    self.slowloris_connections, self.slowloris_byte_every
                ),
                self.slowloris(endpoint, head_timeout, &progress).await?,
            ),
            Attack::IdleFlood => (
                format!(
                    "{} TCP connections from 127.0.0.2 that never send a byte",
                    self.idle_connections
                ),
                self.idle_flood(endpoint, head_timeout, &progress).await?,
            ),
            Attack::BigHeaders => (
                format!(
                    "{} upgrade requests at once, each with a {} B header",
                    self.big_header_requests, self.big_header_bytes
                ),
                self.big_headers(endpoint, &progress).await?,
            ),
            Attack::MessageFlood => (
                format!(
                    "1 client sends 100-byte chat messages into a room as fast as it can for \
                     {:?}, reading its answers; {} members read",
                    self.flood_time, self.message_flood_members
                ),
                self.message_flood(endpoint, &progress).await?,
            ),
        };
        let seconds = started.elapsed().as_secs_f64();
        // "After": once the server has let go of every connection but the scrape's own.
        let release_until = Instant::now() + RELEASE_LIMIT;
        let mut metrics = ServerMetrics::scrape(endpoint.server()).await?;
        while metrics.get("tether_tcp_connections") > 1.0 && Instant::now() < release_until {
            sleep(Duration::from_millis(100)).await;
            metrics = ServerMetrics::scrape(endpoint.server()).await?;
        }
        let connections_left = (metrics.get("tether_tcp_connections") - 1.0).max(0.0);
        sleep(Duration::from_millis(500)).await;
        let rss_after_kib = Memory::read(pid)?.rss_kib;
        let rss_peak_kib = watch.finish().await?;
        let result = AttackResult {
            attack: run.attack,
            round,
            server_flags: run.server_flags.clone(),
            description,
            seconds,
            rss_before_kib,
            rss_peak_kib,
            rss_after_kib,
            connections_left,
            outcome,
            server: metrics.since(&metrics_before),
        };
        progress.say(format_args!(
            "RSS {:.1} → peak {:.1} → {:.1} MiB; {}",
            rss_before_kib as f64 / 1024.0,
            rss_peak_kib as f64 / 1024.0,
            rss_after_kib as f64 / 1024.0,
            result.outcome.summary()
        ));
        Ok(result)
    }

    async fn ping_flood(&self, endpoint: &Endpoint, progress: &Progress) -> Result<Outcome> {
        let mut client = RawClient::connect(endpoint.server(), source(3), Some(1024)).await?;
        client.upgrade(endpoint.server()).await?;
        let ping = raw_client::masked_frame(raw_client::PING, &[b'p'; 125], [1, 2, 3, 4]);
        let pings: Vec<u8> = ping.repeat(64);
        progress.say(format_args!("flooding pings for {:?}", self.flood_time));
        let started = Instant::now();
        let until = started + self.flood_time;
        let mut sent = 0u64;
        let stream = client.stream();
        let failed = loop {
            if Instant::now() >= until {
                break None;
            }
            // A write that blocks for long means the server stopped reading.
            match timeout(self.flood_time, stream.write_all(&pings)).await {
                Ok(Ok(())) => sent += 64,
                Ok(Err(err)) => break Some(format!("write failed: {}", err.kind())),
                Err(_) => break Some("write blocked".to_owned()),
            }
        };
        let after = started.elapsed();
        let how = match failed {
            // What the server sent before it closed is still in the socket: its close frame
            // tells why.
            Some(failed) => {
                let read = read_what_is_left(stream).await;
                match raw_client::close_code(&read) {
                    Some(code) => format!("closed {code}"),
                    None => failed,
                }
            }
            None => "open at the end".to_owned(),
        };
        Ok(Outcome {
            sent,
            sent_what: "pings".into(),
            endings: Endings::one(how, after),
            flooder: None,
            members: None,
        })
    }

    async fn slowloris(
        &self,
        endpoint: &Endpoint,
        head_timeout: Duration,
        progress: &Progress,
    ) -> Result<Outcome> {
        let n = self.slowloris_connections;
        check_fd_limit("self", "the generator", n)?;
        let request = raw_client::upgrade_request(endpoint.server(), "").into_bytes();
        progress.say(format_args!(
            "{n} connections, 1 byte every {:?}",
            self.slowloris_byte_every
        ));
        let deadline = Instant::now() + head_timeout + GRACE;
        let sending = Sending::Drip {
            bytes: request,
            every: self.slowloris_byte_every,
        };
        let endings = connections(
            endpoint,
            source(4),
            n,
            500,
            sending,
            deadline,
            head_timeout / 2,
        )
        .await?;
        Ok(Outcome {
            sent: n as u64,
            sent_what: "connections".into(),
            endings,
            flooder: None,
            members: None,
        })
    }

    async fn idle_flood(
        &self,
        endpoint: &Endpoint,
        head_timeout: Duration,
        progress: &Progress,
    ) -> Result<Outcome> {
        let n = self.idle_connections;
        check_fd_limit("self", "the generator", n)?;
        progress.say(format_args!("{n} connections from 127.0.0.2"));
        let deadline = Instant::now() + head_timeout + GRACE;
        let endings = connections(
            endpoint,
            source(2),
            n,
            500,
            Sending::Nothing,
            deadline,
            head_timeout / 2,
        )
        .await?;
        Ok(Outcome {
            sent: n as u64,
            sent_what: "connections".into(),
            endings,
            flooder: None,
            members: None,
        })
    }

    async fn big_headers(&self, endpoint: &Endpoint, progress: &Progress) -> Result<Outcome> {
        let n = self.big_header_requests;
        check_fd_limit("self", "the generator", n)?;
        let padding = format!("X-Padding: {}\r\n", "a".repeat(self.big_header_bytes));
        let request = raw_client::upgrade_request(endpoint.server(), &padding).into_bytes();
        progress.say(format_args!("{n} requests of {} KB", request.len() / 1000));
        let deadline = Instant::now() + EXPECTED_HEAD_TIMEOUT + GRACE;
        let endings = connections(
            endpoint,
            source(5),
            n,
            n,
            Sending::All(request.into()),
            deadline,
            EXPECTED_HEAD_TIMEOUT / 2,
        )
        .await?;
        Ok(Outcome {
            sent: n as u64,
            sent_what: "requests".into(),
            endings,
            flooder: None,
            members: None,
        })
    }

    async fn message_flood(&self, endpoint: &Endpoint, progress: &Progress) -> Result<Outcome> {
        let room = "bench-attack";
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut members = JoinSet::new();
        for index in 0..self.message_flood_members {
            let mut socket = endpoint.connect(index, 4096).await?;
            socket.join(room).await?;
            members.spawn(read_until_stopped(socket, stop_rx.clone()));
        }
        progress.say(format_args!(
            "{} members in the room; flooding for {:?}",
            self.message_flood_members, self.flood_time
        ));
        let until = Instant::now() + self.flood_time;
        let fate = Flooder::new(room).run(endpoint, until).await?;
        // What the flooder got through is on its way to the members.
        sleep(Duration::from_millis(500)).await;
        stop_tx.send_replace(true);
        let mut seen = MembersSeen {
            members: self.message_flood_members,
            ..MembersSeen::default()
        };
        while let Some(member) = members.join_next().await {
            let (deliveries, ended) = member.context("a member task panicked")?;
            seen.fewest_deliveries = Some(
                seen.fewest_deliveries
                    .map_or(deliveries, |d| d.min(deliveries)),
            );
            seen.most_deliveries = seen.most_deliveries.max(deliveries);
            if let Some(ended) = ended {
                seen.closed += 1;
                seen.endings.push(ended);
            }
        }
        let first_closed = fate
            .first_closed_ms
            .map(|ms| Duration::from_secs_f64(ms / 1000.0));
        let how = fate
            .endings
            .keys()
            .next()
            .map(|how| {
                if how.chars().all(|c| c.is_ascii_digit()) {
                    format!("closed {how}")
                } else {
                    how.clone()
                }
            })
            .unwrap_or_else(|| "never connected".into());
        Ok(Outcome {
            sent: fate.sent,
            sent_what: "messages".into(),
            endings: Endings::one(how, first_closed.unwrap_or(self.flood_time)),
            flooder: Some(fate),
            members: Some(seen),
        })
    }
}

/// What one attack run measured.
#[derive(Debug, Clone, Serialize)]
pub struct AttackResult {
    /// The attack.
    pub attack: Attack,
    /// Which run of the attack on the same server process, from 1.
    pub round: usize,
    /// The server's flags besides its defaults.
    pub server_flags: Vec<String>,
    /// What the attacker did.
    pub description: String,
    /// From the attack's start until every one of its connections had ended, in seconds.
    pub seconds: f64,
    /// The server's `VmRSS` before, in KiB.
    pub rss_before_kib: u64,
    /// The largest `VmRSS` sampled during the attack and until "after", in KiB.
    pub rss_peak_kib: u64,
    /// The server's `VmRSS` once it had let every connection go (and half a second more), in
    /// KiB.
    pub rss_after_kib: u64,
    /// Connections the server still held when "after" was read (0 unless it held some for
    /// longer than 15 s after the attack).
    pub connections_left: f64,
    /// What happened to the attacker.
    pub outcome: Outcome,
    /// The server's counters over the attack (gauges at the end), from `/metrics`.
    pub server: ServerMetrics,
}

/// What happened to an attacker.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// How much it sent.
    pub sent: u64,
    /// What `sent` counts: pings, connections, requests, messages.
    pub sent_what: String,
    /// How its connections ended, and when.
    pub endings: Endings,
    /// The message flood's flooder.
    pub flooder: Option<FlooderFate>,
    /// The message flood's members.
    pub members: Option<MembersSeen>,
}

impl Outcome {
    /// One line for a table.
    pub fn summary(&self) -> String {
        let mut line = self.endings.summary();
        if let Some(flooder) = &self.flooder {
            line = format!(
                "{line}; {} sent, {} acked ok, {} refused (`rate_limited`)",
                flooder.sent, flooder.accepted, flooder.refused
            );
            if let Some(ms) = flooder.first_refused_ms {
                line.push_str(&format!(", first refused after {ms:.0} ms"));
            }
        } else if self.sent_what == "pings" {
            line = format!("{} pings sent; {line}", self.sent);
        }
        if let Some(members) = &self.members {
            line.push_str(&format!(
                "; members: {} of {} closed, each got {}–{} of the flooder's messages",
                members.closed,
                members.members,
                members.fewest_deliveries.unwrap_or(0),
                members.most_deliveries
            ));
        }
        line
    }
}

/// What the members of a flooded room saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MembersSeen {
    /// Members in the room.
    pub members: usize,
    /// Members closed (or failed) before the end.
    pub closed: usize,
    /// How those ended.
    pub endings: Vec<String>,
    /// The fewest flooder messages one member received.
    pub fewest_deliveries: Option<u64>,
    /// The most flooder messages one member received.
    pub most_deliveries: u64,
}

/// How a set of connections ended: by how (an HTTP status, a close code, "closed, no answer",
/// "reset", "still open"), how many, and when, counted from each connection's connect.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Endings(BTreeMap<String, Spread>);

/// How many connections ended one way, and after how long.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// How many.
    pub count: usize,
    /// The soonest, in milliseconds.
    pub min_ms: f64,
    /// The median, in milliseconds.
    pub p50_ms: f64,
    /// The latest, in milliseconds.
    pub max_ms: f64,
}

impl Endings {
    /// One connection that ended `how` after `after`.
    pub fn one(how: impl Into<String>, after: Duration) -> Self {
        Self::collect([(how.into(), after)])
    }

    /// Groups `(how, after)` pairs.
    pub fn collect(ends: impl IntoIterator<Item = (String, Duration)>) -> Self {
        let mut by_how: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
        for (how, after) in ends {
            by_how.entry(how).or_default().push(after);
        }
        Self(
            by_how
                .into_iter()
                .map(|(how, mut afters)| {
                    afters.sort_unstable();
                    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
                    let spread = Spread {
                        count: afters.len(),
                        min_ms: ms(afters[0]),
                        p50_ms: ms(percentile(&afters, 50)),
                        max_ms: ms(afters[afters.len() - 1]),
                    };
                    (how, spread)
                })
                .collect(),
        )
    }

    /// How many ended `how`.
    pub fn count(&self, how: &str) -> usize {
        self.0.get(how).map_or(0, |spread| spread.count)
    }

    /// The spread of those that ended `how`.
    pub fn get(&self, how: &str) -> Option<&Spread> {
        self.0.get(how)
    }

    /// "1024 × closed, no answer after 10.0 s (10.0–10.1 s); 8976 × HTTP 429 after 1 ms
    /// (0–12 ms)": the median, and the range when there is more than one.
    pub fn summary(&self) -> String {
        self.0
            .iter()
            .map(|(how, s)| {
                if s.count == 1 {
                    format!("{how} after {}", time(s.p50_ms))
                } else {
                    format!(
                        "{} × {how} after {} ({}–{})",
                        s.count,
                        time(s.p50_ms),
                        time(s.min_ms),
                        time(s.max_ms)
                    )
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Milliseconds under a second, seconds from there.
fn time(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// 127.0.0.`last`: each attack comes from an address of its own.
fn source(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// What an attack's connection writes.
#[derive(Debug, Clone)]
enum Sending {
    /// Nothing at all.
    Nothing,
    /// `bytes` one at a time, `every` apart.
    Drip { bytes: Vec<u8>, every: Duration },
    /// `bytes` as fast as the server takes them.
    All(Arc<[u8]>),
}

/// Opens `n` connections from `source`, at most `concurrency` connects in flight, each writing
/// `sending`, and watches each until the server answers or closes it, or `deadline`. A close
/// without an answer before `at_once` is told apart from one after a wait (the head timeout).
async fn connections(
    endpoint: &Endpoint,
    source: IpAddr,
    n: usize,
    concurrency: usize,
    sending: Sending,
    deadline: Instant,
    at_once: Duration,
) -> Result<Endings> {
    ensure!(n > 0, "at least one connection");
    let connects = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for _ in 0..n {
        let server = endpoint.server();
        let connects = Arc::clone(&connects);
        let sending = sending.clone();
        tasks.spawn(async move {
            let permit = connects.acquire_owned().await?;
            let client = RawClient::connect(server, source, None).await;
            drop(permit);
            let started = Instant::now();
            let how = match client {
                Ok(client) => watch_until_ended(client.into_stream(), sending, deadline).await,
                Err(err) => format!("connect failed: {}", root_kind(&err)),
            };
            let after = started.elapsed();
            anyhow::Ok((when(how, after, at_once), after))
        });
    }
    let mut ends = Vec::with_capacity(n);
    while let Some(end) = tasks.join_next().await {
        ends.push(end.context("a connection task panicked")??);
    }
    Ok(Endings::collect(ends))
}

/// Names a close without an answer by when it came: at once (refused without an answer, or
/// dropped) or after a wait (the server's head timeout).
fn when(how: String, after: Duration, at_once: Duration) -> String {
    match how.as_str() {
        NO_ANSWER if after < at_once => "closed at once (no answer)".to_owned(),
        NO_ANSWER => "held, then closed (no answer)".to_owned(),
        _ => how,
    }
}

/// How a connection the server closed without a byte of answer ends.
const NO_ANSWER: &str = "closed, no answer";

/// Writes `sending` on `stream` while reading; returns how the connection ended: the server's
/// HTTP status, "closed, no answer", "reset", or "still open" at `deadline`.
async fn watch_until_ended(stream: TcpStream, sending: Sending, deadline: Instant) -> String {
    let (mut reader, mut writer) = stream.into_split();
    let writing = async move {
        match sending {
            Sending::Nothing => {}
            // A failed write shows on the reading side too: the reset or the answer.
            Sending::All(bytes) => {
                let _ = writer.write_all(&bytes).await;
            }
            Sending::Drip { bytes, every } => {
                for byte in bytes.iter().cycle() {
                    if writer.write_all(&[*byte]).await.is_err() {
                        break;
                    }
                    sleep(every).await;
                }
            }
        }
        // Keep the writing half (and so the connection) open until the reading side is done.
        std::future::pending::<()>().await;
        drop(writer);
    };
    let reading = async {
        let mut answer = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) if answer.is_empty() => return NO_ANSWER.to_owned(),
                Ok(0) => return "closed, answer not HTTP".to_owned(),
                Ok(n) => {
                    answer.extend_from_slice(&chunk[..n]);
                    if let Some(status) = raw_client::http_status(&answer) {
                        return format!("HTTP {status}");
                    }
                }
                Err(err) => return err.kind().to_string(),
            }
        }
    };
    tokio::select! {
        how = reading => how,
        () = writing => unreachable!("the writing side never ends"),
        () = sleep_until(deadline) => "still open".to_owned(),
    }
}

/// Reads what a closed connection still holds, for a second at most.
async fn read_what_is_left(stream: &mut TcpStream) -> Vec<u8> {
    let mut read = Vec::new();
    let _ = timeout(Duration::from_secs(1), async {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = stream.read(&mut chunk).await {
            if n == 0 || read.len() > 1 << 20 {
                break;
            }
            read.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    read
}

/// An ordinary member of a flooded room: reads until told to stop; returns how many of the
/// flooder's messages it got, and how it ended if the server closed it first.
async fn read_until_stopped(
    mut socket: BenchSocket,
    mut stop: watch::Receiver<bool>,
) -> (u64, Option<String>) {
    let mut deliveries = 0;
    let ended = loop {
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => break None,
            text = socket.recv() => match text {
                Ok(text) => {
                    if matches!(socket.dialect().parse(&text), Incoming::Message { text } if text.starts_with('f')) {
                        deliveries += 1;
                    }
                }
                Err(err) => break Some(format!("{err:#}")),
            },
        }
    };
    if ended.is_none() {
        socket.close().await;
    }
    (deliveries, ended)
}

/// The I/O error kind at the root of `err`, or its message.
fn root_kind(err: &anyhow::Error) -> String {
    err.root_cause()
        .downcast_ref::<std::io::Error>()
        .map_or_else(|| format!("{err:#}"), |io| io.kind().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endings_are_grouped_with_their_spread() {
        let ms = Duration::from_millis;
        let endings = Endings::collect([
            ("HTTP 429".to_owned(), ms(2)),
            ("closed, no answer".to_owned(), ms(10_010)),
            ("HTTP 429".to_owned(), ms(1)),
            ("HTTP 429".to_owned(), ms(40)),
        ]);
        assert_eq!(endings.count("HTTP 429"), 3);
        assert_eq!(endings.count("reset"), 0);
        let spread = endings.get("HTTP 429").expect("429s");
        assert_eq!(
            (spread.min_ms, spread.p50_ms, spread.max_ms),
            (1.0, 2.0, 40.0)
        );
        assert_eq!(
            endings.summary(),
            "3 × HTTP 429 after 2 ms (1 ms–40 ms); closed, no answer after 10.0 s"
        );
    }

    #[test]
    fn a_close_without_an_answer_is_named_by_when_it_came() {
        let at_once = Duration::from_secs(5);
        let s = Duration::from_secs;
        assert_eq!(
            when(NO_ANSWER.into(), s(0), at_once),
            "closed at once (no answer)"
        );
        assert_eq!(
            when(NO_ANSWER.into(), s(10), at_once),
            "held, then closed (no answer)"
        );
        assert_eq!(when("HTTP 429".into(), s(10), at_once), "HTTP 429");
    }

    #[test]
    fn the_ping_flood_runs_twice_and_the_head_timeout_is_passed_when_set() {
        let quick = Attacks::quick().runs(&Attack::ALL);
        let flags: Vec<(&str, String)> = quick
            .iter()
            .map(|run| (run.attack.name(), run.server_flags.join(" ")))
            .collect();
        assert_eq!(
            flags,
            [
                ("ping-flood", String::new()),
                ("ping-flood", "--message-rate 0".into()),
                ("slowloris", "--request-head-timeout 500ms".into()),
                ("idle-flood", "--request-head-timeout 500ms".into()),
                ("big-headers", String::new()),
                ("message-flood", String::new()),
            ]
        );
        let full = Attacks::default().runs(&[Attack::Slowloris]);
        assert!(full[0].server_flags.is_empty(), "the default head timeout");
    }

    #[test]
    fn attacks_parse_by_name() {
        for attack in Attack::ALL {
            assert_eq!(Attack::from_name(attack.name()).ok(), Some(attack));
        }
        assert!(Attack::from_name("smurf").is_err());
    }
}
