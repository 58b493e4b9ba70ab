//! `probe`: measures a running Tether server with real WebSocket connections over loopback.
//!
//! ```sh
//! cargo build --release -p tether-server --bins --examples   # --examples alone skips the server
//! ulimit -n 20000     # both processes need one descriptor per connection, plus a few
//! RUST_LOG=warn ./target/release/tether-server --addr 127.0.0.1:18500 --backlog 4096 &
//!
//! # Memory per idle connection: the server's RSS (from /proc/PID/status) before and after
//! # opening N connections that each joined one of R rooms.
//! ./target/release/examples/probe idle --url ws://127.0.0.1:18500/ws --pid $! --connections 10000
//!
//! # Join latency: N clients connect and join one room at the same time.
//! ./target/release/examples/probe join --url ws://127.0.0.1:18500/ws --clients 1000
//! ```
//!
//! The probe only talks to loopback addresses, and every run ends within `--timeout` (120 s by
//! default) or fails. Connections come from several loopback source addresses (`--sources`,
//! 127.0.0.1 to 127.0.0.8 by default) so that client ports never run out.
//!
//! The workspace forbids `unsafe`, so the probe cannot raise its own open-file limit: it reads the
//! soft limit of itself and of the server from `/proc/*/limits` and stops with a hint when either
//! is too low for the run. Linux only (it reads `/proc`).

// A measuring tool: what it prints on stdout is its result.
#![allow(clippy::print_stdout)]

use anyhow::{Context, Result, bail, ensure};
use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use tether_protocol::{ClientFrame, ClientMessage, RoomRef, ServerMessage};
use tokio::{
    net::{TcpSocket, TcpStream},
    sync::{Semaphore, mpsc, watch},
    task::JoinSet,
};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest, protocol::WebSocketConfig},
};

/// Descriptors a process needs besides its connections (stdio, epoll, listener, ...).
const SPARE_FDS: u64 = 64;

/// How long a connection waits for the server's close after sending its own.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Parser)]
#[command(
    name = "probe",
    about = "Measures a running Tether server: memory per idle connection, join latency."
)]
struct Cli {
    /// Abort the whole run with an error after this long.
    #[arg(long, global = true, default_value = "120s", value_parser = humantime::parse_duration)]
    timeout: Duration,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Opens N connections that each join a room, and reports the server's RSS growth per
    /// connection.
    Idle {
        #[command(flatten)]
        target: Target,
        /// The server's process id, whose /proc/PID/status is read.
        #[arg(long)]
        pid: u32,
        /// How many connections to open.
        #[arg(long)]
        connections: usize,
        /// How many rooms the connections are spread over (`probe-0` .. `probe-{R-1}`).
        #[arg(long, default_value_t = 100)]
        rooms: usize,
        /// How many handshakes may be in flight at once.
        #[arg(long, default_value_t = 500)]
        concurrency: usize,
        /// How long to let the server settle before reading its RSS again.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        settle: Duration,
    },
    /// N clients connect and join one room, all at once; reports the total time and the per-client
    /// percentiles.
    Join {
        #[command(flatten)]
        target: Target,
        /// How many clients.
        #[arg(long)]
        clients: usize,
        /// The room they all join.
        #[arg(long, default_value = "probe-join")]
        room: String,
    },
}

/// Where to connect, and from where.
#[derive(Debug, clap::Args)]
struct Target {
    /// The server's WebSocket URL; its host must be a loopback address.
    #[arg(long)]
    url: String,
    /// Loopback source addresses to spread the connections over, comma-separated. Default:
    /// 127.0.0.1 to 127.0.0.8 (or ::1 for an IPv6 server).
    #[arg(long, value_delimiter = ',')]
    sources: Option<Vec<IpAddr>>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let run = async {
        match cli.command {
            Command::Idle {
                target,
                pid,
                connections,
                rooms,
                concurrency,
                settle,
            } => {
                let idle = Idle {
                    endpoint: Endpoint::new(target)?,
                    pid,
                    connections,
                    rooms,
                    concurrency,
                    settle,
                };
                idle.run().await
            }
            Command::Join {
                target,
                clients,
                room,
            } => join(Endpoint::new(target)?, clients, room).await,
        }
    };
    match tokio::time::timeout(cli.timeout, run).await {
        Ok(result) => result,
        Err(_) => bail!(
            "timed out after {} (raise --timeout?)",
            humantime::format_duration(cli.timeout)
        ),
    }
}

/// A checked WebSocket URL on loopback and the source addresses to connect from.
#[derive(Debug, Clone)]
struct Endpoint {
    url: Arc<str>,
    server: SocketAddr,
    sources: Arc<[IpAddr]>,
}

impl Endpoint {
    fn new(target: Target) -> Result<Self> {
        let request = target
            .url
            .as_str()
            .into_client_request()
            .with_context(|| format!("bad URL {}", target.url))?;
        let uri = request.uri();
        ensure!(
            uri.scheme_str() == Some("ws"),
            "only ws:// URLs are supported, got {}",
            target.url
        );
        let host = uri.host().context("the URL has no host")?;
        let ip: IpAddr = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .with_context(|| format!("the URL's host must be a loopback IP address, not {host}"))?;
        ensure!(ip.is_loopback(), "{ip} is not a loopback address");
        let server = SocketAddr::new(ip, uri.port_u16().unwrap_or(80));
        let sources: Vec<IpAddr> = target.sources.unwrap_or_else(|| match ip {
            IpAddr::V4(_) => (1..=8)
                .map(|last| IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
                .collect(),
            IpAddr::V6(_) => vec![IpAddr::V6(Ipv6Addr::LOCALHOST)],
        });
        ensure!(!sources.is_empty(), "--sources is empty");
        for source in &sources {
            ensure!(
                source.is_loopback() && source.is_ipv4() == ip.is_ipv4(),
                "source {source} is not a loopback address of the server's family"
            );
        }
        Ok(Self {
            url: target.url.into(),
            server,
            sources: sources.into(),
        })
    }

    /// Opens connection number `index` from its source address and completes the handshake.
    async fn connect(&self, index: usize) -> Result<Ws> {
        let source = self.sources[index % self.sources.len()];
        let socket = match source {
            IpAddr::V4(_) => TcpSocket::new_v4(),
            IpAddr::V6(_) => TcpSocket::new_v6(),
        }?;
        socket
            .bind(SocketAddr::new(source, 0))
            .with_context(|| format!("binding to {source}"))?;
        let stream = socket
            .connect(self.server)
            .await
            .with_context(|| format!("connecting to {} from {source}", self.server))?;
        stream.set_nodelay(true)?;
        // Tungstenite reads into a 128 KiB buffer by default; the probe's messages are small,
        // and tens of thousands of such buffers would only slow the probe down.
        let config = WebSocketConfig::default()
            .read_buffer_size(4 * 1024)
            .write_buffer_size(0);
        let (ws, _response) =
            tokio_tungstenite::client_async_with_config(&*self.url, stream, Some(config))
                .await
                .context("WebSocket handshake")?;
        Ok(ws)
    }
}

type Ws = WebSocketStream<TcpStream>;

/// The next protocol message from the server, skipping control frames.
async fn next_message(ws: &mut Ws) -> Result<ServerMessage> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(&text)
                    .with_context(|| format!("unexpected message from the server: {text}"));
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Binary(_))) => bail!("unexpected binary message from the server"),
            Some(Ok(Message::Close(frame))) => bail!("the server closed the connection: {frame:?}"),
            Some(Err(err)) => return Err(err).context("reading from the server"),
            None => bail!("the server dropped the connection"),
        }
    }
}

/// What a client learned by joining a room.
#[derive(Debug, Clone, Copy)]
struct JoinReply {
    /// The room's size in `joined`, this client included.
    members: usize,
    /// How many `user:joined` of that room came before `joined`.
    ///
    /// The server adds a client to the room and then queues its `joined`; a client joining in
    /// between announces itself to the whole room, the new member included.
    early: usize,
}

/// Reads `connected`, joins `room` and waits for `joined`.
async fn connect_and_join(ws: &mut Ws, room: &str) -> Result<JoinReply> {
    match next_message(ws).await? {
        ServerMessage::Connected(_) => {}
        other => bail!("expected `connected`, got {other:?}"),
    }
    let join = ClientFrame::new(ClientMessage::Join(RoomRef::new(room)));
    ws.send(Message::text(serde_json::to_string(&join)?))
        .await
        .context("sending join")?;
    let mut early = 0;
    loop {
        match next_message(ws).await? {
            ServerMessage::Joined(joined) if joined.room_id == room => {
                return Ok(JoinReply {
                    members: joined.members,
                    early,
                });
            }
            ServerMessage::UserJoined(event) if event.room_id == room => early += 1,
            ServerMessage::Error(error) => bail!("join refused: {}", error.message),
            _ => {}
        }
    }
}

/// Keeps `ws` open, reading (and so answering the server's pings) until `stop` changes; then closes
/// it. Fails when the server ends the connection first.
async fn hold(ws: &mut Ws, stop: &mut watch::Receiver<bool>) -> Result<()> {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            message = ws.next() => match message {
                Some(Ok(Message::Close(frame))) => bail!("the server closed the connection: {frame:?}"),
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(err).context("reading from the server"),
                None => bail!("the server dropped the connection"),
            },
        }
    }
    close(ws).await;
    Ok(())
}

/// Sends a close frame and waits (briefly) for the server's, ignoring errors: the run is over.
async fn close(ws: &mut Ws) {
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// The `idle` subcommand.
#[derive(Debug)]
struct Idle {
    endpoint: Endpoint,
    pid: u32,
    connections: usize,
    rooms: usize,
    concurrency: usize,
    settle: Duration,
}

impl Idle {
    async fn run(self) -> Result<()> {
        let n = self.connections;
        ensure!(n > 0, "--connections must be at least 1");
        ensure!(self.rooms > 0, "--rooms must be at least 1");
        ensure!(self.concurrency > 0, "--concurrency must be at least 1");
        check_fd_limit("self", "the probe", n)?;
        check_fd_limit(&self.pid.to_string(), "the server", n)?;

        let before = Memory::read(self.pid)?;
        println!(
            "server pid {}: before: {before}; opening {n} connections over {} rooms from {} source addresses, {} at a time",
            self.pid,
            self.rooms,
            self.endpoint.sources.len(),
            self.concurrency
        );

        let started = Instant::now();
        let (stop_tx, stop_rx) = watch::channel(false);
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<Result<()>>();
        let lost = Arc::new(AtomicUsize::new(0));
        let in_flight = Arc::new(Semaphore::new(self.concurrency));
        let mut tasks = JoinSet::new();
        let mut ready = 0;
        let report = |ready: usize| {
            if ready.is_multiple_of(self.concurrency) || ready == n {
                println!(
                    "  connected {ready}/{n} ({:.1} s)",
                    started.elapsed().as_secs_f64()
                );
            }
        };
        for index in 0..n {
            // Wait for a free slot, collecting the connections that finished meanwhile.
            let permit = loop {
                tokio::select! {
                    permit = Arc::clone(&in_flight).acquire_owned() => break permit?,
                    Some(result) = ready_rx.recv() => {
                        result.with_context(|| format!("after {ready} connections"))?;
                        ready += 1;
                        report(ready);
                    }
                }
            };
            let endpoint = self.endpoint.clone();
            let room = format!("probe-{}", index % self.rooms);
            let ready_tx = ready_tx.clone();
            let mut stop = stop_rx.clone();
            let lost = Arc::clone(&lost);
            tasks.spawn(async move {
                let mut ws = match endpoint.connect(index).await {
                    Ok(ws) => ws,
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                        return;
                    }
                };
                let joined = connect_and_join(&mut ws, &room).await;
                drop(permit);
                let failed = joined.is_err();
                let _ = ready_tx.send(joined.map(drop));
                if !failed && hold(&mut ws, &mut stop).await.is_err() {
                    lost.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        while ready < n {
            let result = ready_rx
                .recv()
                .await
                .context("a connection task ended without reporting")?;
            result.with_context(|| format!("after {ready} connections"))?;
            ready += 1;
            report(ready);
        }
        let connect_time = started.elapsed();

        tokio::time::sleep(self.settle).await;
        let after = Memory::read(self.pid)?;
        let dropped = lost.load(Ordering::Relaxed);
        ensure!(
            dropped == 0,
            "{dropped} connections were closed by the server"
        );
        let delta_kib = after.rss_kib as i64 - before.rss_kib as i64;
        println!("server after {} s: {after}", self.settle.as_secs_f64());
        println!(
            "connections: {n} in {:.1} s ({:.0}/s)",
            connect_time.as_secs_f64(),
            n as f64 / connect_time.as_secs_f64()
        );
        println!(
            "RSS delta: {delta_kib} KiB ({:.1} MiB) total, {:.2} KiB per connection",
            delta_kib as f64 / 1024.0,
            delta_kib as f64 / n as f64
        );

        let closing = Instant::now();
        stop_tx.send_replace(true);
        while tasks.join_next().await.is_some() {}
        let close_time = closing.elapsed();
        tokio::time::sleep(self.settle).await;
        let closed = Memory::read(self.pid)?;
        println!(
            "closed all in {:.1} s; server {} s later: {closed}",
            close_time.as_secs_f64(),
            self.settle.as_secs_f64()
        );
        Ok(())
    }
}

/// The `join` subcommand.
async fn join(endpoint: Endpoint, clients: usize, room: String) -> Result<()> {
    ensure!(clients > 0, "--clients must be at least 1");
    check_fd_limit("self", "the probe", clients)?;
    println!(
        "{clients} clients join room {room:?} at once, from {} source addresses",
        endpoint.sources.len()
    );

    let room: Arc<str> = room.into();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (joined_tx, mut joined) = mpsc::unbounded_channel::<Result<(Duration, JoinReply)>>();
    let mut tasks = JoinSet::new();
    let started = Instant::now();
    for index in 0..clients {
        let endpoint = endpoint.clone();
        let room = Arc::clone(&room);
        let joined_tx = joined_tx.clone();
        let mut stop = stop_rx.clone();
        tasks.spawn(async move {
            let mine = Instant::now();
            let mut ws = match endpoint.connect(index).await {
                Ok(ws) => ws,
                Err(err) => {
                    let _ = joined_tx.send(Err(err));
                    return;
                }
            };
            let reply = connect_and_join(&mut ws, &room).await;
            let failed = reply.is_err();
            let _ = joined_tx.send(reply.map(|reply| (mine.elapsed(), reply)));
            // Stay in the room (reading the others' `user:joined`) until every client is in.
            if !failed {
                let _ = hold(&mut ws, &mut stop).await;
            }
        });
    }
    drop(joined_tx);

    let mut latencies = Vec::with_capacity(clients);
    let (mut largest_room, mut early) = (0, 0);
    let mut progress = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    while latencies.len() < clients {
        tokio::select! {
            reply = joined.recv() => {
                let (latency, reply) = reply
                    .context("a client task ended without reporting")?
                    .with_context(|| format!("a client failed after {} joins", latencies.len()))?;
                latencies.push(latency);
                largest_room = largest_room.max(reply.members);
                early += usize::from(reply.early > 0);
            }
            _ = progress.tick() => println!(
                "  {:.0} s: {}/{clients} joined",
                started.elapsed().as_secs_f64(),
                latencies.len()
            ),
        }
    }
    let all_joined = started.elapsed();
    ensure!(
        largest_room == clients,
        "the room had {largest_room} members at most, expected {clients} (was it empty?)"
    );

    latencies.sort_unstable();
    println!(
        "all {clients} joined in {:.0} ms; per client p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        millis(all_joined),
        millis(percentile(&latencies, 50)),
        millis(percentile(&latencies, 99)),
        millis(percentile(&latencies, 100)),
    );
    println!("`user:joined` of the room before their own `joined`: {early} of {clients} clients");

    stop_tx.send_replace(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// The nearest-rank percentile `p` (0..=100) of sorted, non-empty `values`.
fn percentile(values: &[Duration], p: usize) -> Duration {
    let rank = (values.len() * p).div_ceil(100).max(1);
    values[rank.min(values.len()) - 1]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Fails with a hint when process `pid`'s (or `self`'s) open-file soft limit is too low for
/// `connections` connections.
fn check_fd_limit(pid: &str, who: &str, connections: usize) -> Result<()> {
    let path = format!("/proc/{pid}/limits");
    let limits = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .with_context(|| format!("no open-file limit in {path}"))?;
    let mut fields = line["Max open files".len()..].split_whitespace();
    let soft = fields.next().context("no soft limit")?;
    let hard = fields.next().context("no hard limit")?;
    if soft == "unlimited" {
        return Ok(());
    }
    let soft: u64 = soft
        .parse()
        .with_context(|| format!("bad limit {soft:?}"))?;
    let needed = connections as u64 + SPARE_FDS;
    if soft >= needed {
        return Ok(());
    }
    match hard.parse::<u64>() {
        Ok(hard) if hard < needed => bail!(
            "{who} may open {soft} files but needs about {needed}, more than its hard limit \
             ({hard}): use fewer connections"
        ),
        _ => bail!(
            "{who} may open {soft} files but needs about {needed}: run `ulimit -n {hard}` (the \
             hard limit) in its shell before starting it"
        ),
    }
}

/// A process's memory, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy)]
struct Memory {
    /// `VmRSS`: resident now, in KiB.
    rss_kib: u64,
    /// `VmHWM`: the most ever resident, in KiB.
    hwm_kib: u64,
}

impl Memory {
    fn read(pid: u32) -> Result<Self> {
        let path = format!("/proc/{pid}/status");
        let status = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {path}: is the server running?"))?;
        let field = |name: &str| -> Result<u64> {
            let line = status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .with_context(|| format!("no {name} in {path}"))?;
            let kib = line.trim().trim_end_matches("kB").trim();
            kib.parse()
                .with_context(|| format!("bad {name} value {line:?}"))
        };
        Ok(Self {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
        })
    }
}

impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "VmRSS {} KiB ({:.1} MiB), VmHWM {} KiB",
            self.rss_kib,
            self.rss_kib as f64 / 1024.0,
            self.hwm_kib
        )
    }
}
