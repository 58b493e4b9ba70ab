//! `tether-bench`: measures Tether's server against the guide's Node `ws` server and Socket.IO.
//!
//! ```sh
//! scripts/bench.sh                      # the full suite: builds, installs the Node peers, runs
//! scripts/bench.sh --quick              # a smoke run of every scenario, in about a minute
//!
//! # One scenario against a server that is already running:
//! tether-bench fan-out --url ws://127.0.0.1:8080/ws --members 100 --senders 10 --window 32
//! tether-bench fan-out --url ws://127.0.0.1:8080/ws --members 1000 --senders 1 --rate 50
//! tether-bench idle --url ws://127.0.0.1:8080/ws --pid "$(pgrep tether-server)" --connections 10000
//! tether-bench join --url ws://127.0.0.1:8080/ws --clients 1000
//! ```
//!
//! The suite starts each server itself (`tether-server` next to this binary, the Node peers in
//! `bench/peers`), runs every scenario on a fresh process, and writes `results.md`,
//! `results.json` and `results.svg`. Only loopback addresses are ever used, and every run is
//! bounded in count and time. Progress goes to stderr; the table to stdout.

// A measuring tool: what it prints on stdout is its result.
#![allow(clippy::print_stdout)]

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use std::{path::PathBuf, time::Duration};
use tether_bench::{
    Dialect, Endpoint, FanOut, Idle, JoinStorm, Pace, ServerKind,
    server_process::Programs,
    suite::{self, Scenario, Suite, bounded},
};

#[derive(Debug, Parser)]
#[command(
    name = "tether-bench",
    // `scripts/bench.sh` passes defaults that the caller's own flags override.
    args_override_self = true,
    about = "Load generator: Tether's server side by side with the guide's Node ws server and Socket.IO."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every scenario against every server; writes results.md, results.json and results.svg.
    Suite {
        /// A smoke run: every scenario, small and short.
        #[arg(long)]
        quick: bool,
        /// Which servers, comma-separated: tether, guide-node, socketio.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "tether,guide-node,socketio"
        )]
        servers: Vec<String>,
        /// Which scenarios, comma-separated: fan-out, latency, idle, join, storm.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "fan-out,latency,idle,join,storm"
        )]
        scenarios: Vec<String>,
        /// Where to write the results.
        #[arg(long, default_value = "target/bench")]
        out: PathBuf,
        /// The tether-server binary (default: next to this one).
        #[arg(long)]
        tether_bin: Option<PathBuf>,
        /// The Node peers' folder, with node_modules installed (default: bench/peers).
        #[arg(long)]
        peers: Option<PathBuf>,
    },
    /// Members in one room, some sending, everyone receiving: throughput and latency.
    FanOut {
        #[command(flatten)]
        target: Target,
        /// Connections in the room.
        #[arg(long, default_value_t = 100)]
        members: usize,
        /// How many of them send.
        #[arg(long, default_value_t = 10)]
        senders: usize,
        /// Closed loop: messages each sender may have unseen.
        #[arg(long, default_value_t = 32, conflicts_with = "rate")]
        window: usize,
        /// Fixed rate instead: messages per second per sender.
        #[arg(long)]
        rate: Option<f64>,
        /// How long to measure.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        measure: Duration,
        /// The server's process id: its CPU time per delivery is reported too.
        #[arg(long)]
        pid: Option<u32>,
    },
    /// Many connections in rooms; the server's RSS per connection.
    Idle {
        #[command(flatten)]
        target: Target,
        /// The server's process id, whose /proc/PID/status is read.
        #[arg(long)]
        pid: u32,
        /// How many connections.
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// Members per room.
        #[arg(long, default_value_t = 10)]
        room_size: usize,
    },
    /// Clients connect and join one room at once; time until all are in.
    Join {
        #[command(flatten)]
        target: Target,
        /// How many clients.
        #[arg(long, default_value_t = 1000)]
        clients: usize,
    },
}

/// A running server to measure.
#[derive(Debug, clap::Args)]
struct Target {
    /// Its WebSocket URL, on a loopback address.
    #[arg(long)]
    url: String,
    /// The protocol it speaks.
    #[arg(long, value_enum, default_value_t = DialectArg::Guide)]
    dialect: DialectArg,
    /// Abort after this long.
    #[arg(long, default_value = "300s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DialectArg {
    /// The guide's JSON: Tether and the guide's Node server.
    Guide,
    /// Socket.IO 4 over Engine.IO v4.
    SocketIo,
}

impl Target {
    fn endpoint(&self) -> Result<Endpoint> {
        let dialect = match self.dialect {
            DialectArg::Guide => Dialect::Guide,
            DialectArg::SocketIo => Dialect::SocketIo,
        };
        Endpoint::new(&self.url, dialect)
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Suite {
            quick,
            servers,
            scenarios,
            out,
            tether_bin,
            peers,
        } => {
            let servers = servers
                .iter()
                .map(|name| ServerKind::from_name(name))
                .collect::<Result<Vec<_>>>()?;
            let scenarios = scenarios
                .iter()
                .map(|name| Scenario::from_name(name))
                .collect::<Result<Vec<_>>>()?;
            let mut programs = Programs::default();
            if let Some(bin) = tether_bin {
                programs.tether = bin;
            }
            if let Some(peers) = peers {
                // Absolute: the Node servers run with it as their working directory.
                programs.peers = peers
                    .canonicalize()
                    .with_context(|| format!("no peers folder at {}", peers.display()))?;
            }
            let suite = if quick {
                Suite::quick()
            } else {
                Suite::default()
            };
            let report = suite.run(&servers, &scenarios, &programs).await?;
            suite::write(&report, &out)?;
            println!("{}", report.to_markdown());
            eprintln!(
                "wrote {0}/results.md, {0}/results.json and {0}/results.svg",
                out.display()
            );
            let failures: usize = report.servers.iter().map(|s| s.failures.len()).sum();
            anyhow::ensure!(failures == 0, "{failures} scenario runs failed");
        }
        Command::FanOut {
            target,
            members,
            senders,
            window,
            rate,
            measure,
            pid,
        } => {
            let pace = match rate {
                Some(per_second) => Pace::Rate { per_second },
                None => Pace::ClosedLoop { window },
            };
            let mut run = FanOut::new(members, senders, pace).measure(measure);
            if let Some(pid) = pid {
                run = run.server_pid(pid);
            }
            let endpoint = target.endpoint()?;
            let result = bounded("fan-out", target.timeout, run.run(&endpoint, "fan-out")).await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
        }
        Command::Idle {
            target,
            pid,
            connections,
            room_size,
        } => {
            let run = Idle::new(connections).room_size(room_size);
            let endpoint = target.endpoint()?;
            let result = bounded("idle", target.timeout, run.run(&endpoint, pid, "idle")).await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
        }
        Command::Join { target, clients } => {
            let run = JoinStorm::new(clients);
            let endpoint = target.endpoint()?;
            let result = bounded("join", target.timeout, run.run(&endpoint, "join")).await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
        }
    }
    Ok(())
}
