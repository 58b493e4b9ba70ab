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
//!
//! # Hardening: these start tether-server themselves, with its default limits.
//! tether-bench attack                   # every attack: what it costs, what the attacker gets
//! tether-bench attack --attacks slowloris,idle-flood --quick
//! tether-bench flood --members 100 --measure 15s   # with and without a flooder
//!
//! # History: these start their own servers too (Tether with SQLite, Socket.IO with recovery).
//! tether-bench resume --clients 19500 --faults kill,drop --servers tether,socketio
//! tether-bench durable --stores sqlite,memory
//!
//! # Several nodes on one Redis (a redis-server of their own on a free port): Tether with
//! # --redis, Socket.IO with @socket.io/redis-adapter; 3 runs, median and range.
//! tether-bench cluster --runs 3
//! tether-bench cluster --scenarios nodes --nodes 1,2,4 --redis-cpus 0 --node-cpus 1-2 --node-cpus 3-4
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
    Attack, Attacks, Dialect, Endpoint, FanOut, Fault, Flood, Flooding, Idle, JoinStorm, Launch,
    Pace, ResumeStorm, ServerKind, ServerProcess,
    cluster::Cpus,
    memory::raise_fd_limit,
    report::{
        ServerResults, SuiteReport, attacks_table, cluster_table, floods_table, resume_table,
    },
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
        /// Which scenarios, comma-separated: fan-out, fan-out-memory, latency, idle, join,
        /// storm, resume, resume-drop, durable, attack, flood, cluster-fan-out, cluster-latency,
        /// cluster-idle, cluster-nodes (fan-out-memory, durable, attack and flood against Tether
        /// only; resume, resume-drop and the cluster scenarios against Tether and Socket.IO).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "fan-out,fan-out-memory,latency,idle,join,storm,resume,resume-drop,\
                             durable,attack,flood,cluster-fan-out,cluster-latency,cluster-idle,\
                             cluster-nodes"
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
        /// Handshakes in flight at once.
        #[arg(long, default_value_t = 500)]
        concurrency: usize,
    },
    /// Clients connect and join one room at once; time until all are in.
    Join {
        #[command(flatten)]
        target: Target,
        /// How many clients.
        #[arg(long, default_value_t = 1000)]
        clients: usize,
    },
    /// Attacks on tether-server with its default limits, each on a fresh process: the server's
    /// memory before, at its peak and after, and what happened to the attacker.
    Attack {
        /// Which attacks, comma-separated: ping-flood (run twice: the second time with
        /// --message-rate 0), slowloris, idle-flood, big-headers, message-flood.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "ping-flood,slowloris,idle-flood,big-headers,message-flood"
        )]
        attacks: Vec<String>,
        /// Small and short, with a 500 ms request-head timeout: a smoke run.
        #[arg(long)]
        quick: bool,
        /// Run each attack this many times on the same server: does its memory come back?
        #[arg(long, default_value_t = 1)]
        rounds: usize,
        #[command(flatten)]
        own: OwnServer,
    },
    /// Members chatting in one room at a person's pace, with and without a flooder, each run on
    /// a fresh tether-server with its default limits.
    Flood {
        /// Members in the room.
        #[arg(long, default_value_t = 100)]
        members: usize,
        /// How often each member sends a message.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        interval: Duration,
        /// How long each run lasts.
        #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
        measure: Duration,
        /// Which runs, comma-separated: none (no flooder), one (one flooder connection),
        /// reconnecting (a flooder that connects again whenever it is closed).
        #[arg(long, value_delimiter = ',', default_value = "none,one,reconnecting")]
        flooding: Vec<String>,
        #[command(flatten)]
        own: OwnServer,
    },
    /// Resume storms: clients in rooms, some publishing acked messages, lose the server
    /// (`kill -9` and a restart on the same data folder) or their connections, and come back;
    /// each checks that it got every message of its room exactly once. Starts its own servers:
    /// Tether with its default SQLite store, Socket.IO with connection-state recovery on.
    Resume {
        /// Which servers, comma-separated: tether, socketio.
        #[arg(long, value_delimiter = ',', default_value = "tether,socketio")]
        servers: Vec<String>,
        /// Which faults, comma-separated: kill (kill -9, restart), drop (every connection reset,
        /// the server up).
        #[arg(long, value_delimiter = ',', default_value = "kill,drop")]
        faults: Vec<String>,
        /// Clients, in rooms of 10.
        #[arg(long, default_value_t = 19_500)]
        clients: usize,
        /// Publishers per room.
        #[arg(long, default_value_t = 1)]
        publishers: usize,
        /// Messages per second, per publisher.
        #[arg(long, default_value_t = 1.0)]
        rate: f64,
        /// Publishing before the fault.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        before: Duration,
        /// Publishing after the server is back (or the drop).
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        after: Duration,
        /// The Node peers' folder, with node_modules installed (default: bench/peers).
        #[arg(long)]
        peers: Option<PathBuf>,
        #[command(flatten)]
        own: OwnServer,
    },
    /// Several nodes on one Redis, each run on a fresh redis-server (a free loopback port, its
    /// files in a temporary folder) and fresh nodes: Tether with `--redis`, Socket.IO with
    /// `@socket.io/redis-adapter`. Repeated `--runs` times; prints each figure's median and range.
    Cluster {
        /// Which scenarios, comma-separated: fan-out (senders on one node, the other members on
        /// the others), latency (a large room at a fixed rate: one server without Redis, one
        /// node on Redis, the members on a second node), idle (RSS per connection on a node),
        /// nodes (fan-out throughput by number of nodes).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "fan-out,latency,idle,nodes"
        )]
        scenarios: Vec<String>,
        /// Which servers, comma-separated: tether, socketio.
        #[arg(long, value_delimiter = ',', default_value = "tether,socketio")]
        servers: Vec<String>,
        /// How many times to run every scenario against every server.
        #[arg(long, default_value_t = 1)]
        runs: usize,
        /// Small and short: a smoke run.
        #[arg(long)]
        quick: bool,
        /// Fan-out: nodes (the senders on the first).
        #[arg(long)]
        fan_out_nodes: Option<usize>,
        /// Fan-out and the nodes curve: members in the room.
        #[arg(long)]
        members: Option<usize>,
        /// Fan-out and the nodes curve: how many of them send.
        #[arg(long)]
        senders: Option<usize>,
        /// Fan-out and the nodes curve: closed-loop window per sender.
        #[arg(long)]
        window: Option<usize>,
        /// Latency: members in the room.
        #[arg(long)]
        latency_members: Option<usize>,
        /// Idle: connections.
        #[arg(long)]
        idle_connections: Option<usize>,
        /// The nodes curve: node counts, comma-separated.
        #[arg(long, value_delimiter = ',')]
        nodes: Option<Vec<usize>>,
        /// Fan-out and latency: how long to measure.
        #[arg(long, value_parser = humantime::parse_duration)]
        measure: Option<Duration>,
        /// Fan-out and latency: how long to warm up.
        #[arg(long, value_parser = humantime::parse_duration)]
        warmup: Option<Duration>,
        /// Redis's CPUs (`taskset -c` list, such as 0).
        #[arg(long)]
        redis_cpus: Option<String>,
        /// A node's CPUs (`taskset -c` list, such as 1-2); once per node, given round-robin.
        #[arg(long)]
        node_cpus: Vec<String>,
        /// The Node peers' folder, with node_modules installed (default: bench/peers).
        #[arg(long)]
        peers: Option<PathBuf>,
        #[command(flatten)]
        own: OwnServer,
    },
    /// Durable throughput: senders in many rooms, each keeping messages in flight; acks per
    /// second (an ack means stored, and with SQLite committed), per store.
    Durable {
        /// Rooms, one sender each.
        #[arg(long, default_value_t = 100)]
        rooms: usize,
        /// Messages each sender keeps in flight.
        #[arg(long, default_value_t = 32)]
        window: usize,
        /// How long acks are counted.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        measure: Duration,
        /// Which stores, comma-separated: sqlite, memory.
        #[arg(long, value_delimiter = ',', default_value = "sqlite,memory")]
        stores: Vec<String>,
        #[command(flatten)]
        own: OwnServer,
    },
}

/// A tether-server this run starts itself.
#[derive(Debug, clap::Args)]
struct OwnServer {
    /// The tether-server binary (default: next to this one).
    #[arg(long)]
    tether_bin: Option<PathBuf>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

impl OwnServer {
    fn write_json(&self, results: &impl serde::Serialize) -> Result<()> {
        if let Some(path) = &self.json {
            let text = serde_json::to_string_pretty(results)? + "\n";
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }

    fn programs(&self) -> Programs {
        let mut programs = Programs::default();
        if let Some(bin) = &self.tether_bin {
            programs.tether = bin.clone();
        }
        programs
    }
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
    let cli = Cli::parse();
    // The idle scenarios need thousands of descriptors, here and in the servers started from here.
    if let Err(err) = raise_fd_limit() {
        eprintln!("could not raise the open-file limit: {err:#}");
    }
    match cli.command {
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
            concurrency,
        } => {
            let run = Idle::new(connections)
                .room_size(room_size)
                .concurrency(concurrency);
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
        Command::Attack {
            attacks,
            quick,
            rounds,
            own,
        } => {
            let attacks = attacks
                .iter()
                .map(|name| Attack::from_name(name))
                .collect::<Result<Vec<_>>>()?;
            let mut sizes = if quick {
                Attacks::quick()
            } else {
                Attacks::default()
            };
            sizes.rounds = rounds;
            let suite = Suite {
                attacks: sizes,
                ..Suite::default()
            };
            let runs = suite.attacks.runs(&attacks);
            let (results, failures) = suite.run_attacks(&runs, &own.programs()).await;
            own.write_json(&results)?;
            println!("{}", attacks_table(ServerKind::Tether, &results));
            anyhow::ensure!(failures.is_empty(), "failed: {}", failures.join("; "));
        }
        Command::Cluster {
            scenarios,
            servers,
            runs,
            quick,
            fan_out_nodes,
            members,
            senders,
            window,
            latency_members,
            idle_connections,
            nodes,
            measure,
            warmup,
            redis_cpus,
            node_cpus,
            peers,
            own,
        } => {
            let servers = servers
                .iter()
                .map(|name| ServerKind::from_name(name))
                .collect::<Result<Vec<_>>>()?;
            let scenarios = scenarios
                .iter()
                .map(|name| {
                    let name = name.strip_prefix("cluster-").unwrap_or(name);
                    Scenario::from_name(&format!("cluster-{name}"))
                })
                .collect::<Result<Vec<_>>>()?;
            let mut programs = own.programs();
            if let Some(peers) = peers {
                programs.peers = peers
                    .canonicalize()
                    .with_context(|| format!("no peers folder at {}", peers.display()))?;
            }
            let mut suite = if quick {
                Suite::quick()
            } else {
                Suite::default()
            };
            let c = &mut suite.cluster;
            c.fan_out_nodes = fan_out_nodes.unwrap_or(c.fan_out_nodes);
            c.fan_out_members = members.unwrap_or(c.fan_out_members);
            c.fan_out_senders = senders.unwrap_or(c.fan_out_senders);
            c.fan_out_window = window.unwrap_or(c.fan_out_window);
            c.latency_members = latency_members.unwrap_or(c.latency_members);
            c.idle_connections = idle_connections.unwrap_or(c.idle_connections);
            c.node_counts = nodes.unwrap_or_else(|| c.node_counts.clone());
            c.measure = measure.unwrap_or(c.measure);
            c.warmup = warmup.unwrap_or(c.warmup);
            c.cpus = Cpus {
                redis: redis_cpus,
                nodes: node_cpus,
            };
            let mut reports: Vec<(String, SuiteReport)> = Vec::new();
            for run in 1..=runs.max(1) {
                let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
                let load = load
                    .split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ");
                eprintln!("cluster run {run} of {runs}; load average {load}");
                let report = suite.run(&servers, &scenarios, &programs).await?;
                let failures: Vec<&String> =
                    report.servers.iter().flat_map(|s| &s.failures).collect();
                anyhow::ensure!(failures.is_empty(), "run {run} failed: {failures:?}");
                reports.push((load, report));
            }
            let by_server: Vec<(ServerKind, Vec<&ServerResults>)> = servers
                .iter()
                .map(|&kind| {
                    let results = reports
                        .iter()
                        .filter_map(|(_, r)| r.servers.iter().find(|s| s.server == kind))
                        .collect();
                    (kind, results)
                })
                .collect();
            let last = &reports.last().expect("at least one run").1;
            println!(
                "{}",
                cluster_table(&suite.cluster, &last.versions, &by_server)
            );
            let loads: Vec<&str> = reports.iter().map(|(load, _)| load.as_str()).collect();
            println!(
                "Runs from {} on {} × {}; load average (1, 5, 15 min) before each: {}.",
                reports[0].1.started,
                last.machine.cpus,
                last.machine.cpu,
                loads.join("; ")
            );
            let runs: Vec<serde_json::Value> = reports
                .iter()
                .map(|(load, report)| serde_json::json!({ "load": load, "report": report }))
                .collect();
            own.write_json(&runs)?;
        }
        Command::Durable {
            rooms,
            window,
            measure,
            stores,
            own,
        } => {
            let durable = tether_bench::Durable::default()
                .rooms(rooms)
                .window(window)
                .measure(measure);
            let mut results = Vec::new();
            for store in &stores {
                let result = durable.run(&own.programs(), store).await?;
                println!(
                    "{store}: {} acked in {:?} across {rooms} rooms ({:.0}/s), {} refused",
                    result.acked, measure, result.per_second, result.refused
                );
                results.push(result);
            }
            own.write_json(&results)?;
        }
        Command::Resume {
            servers,
            faults,
            clients,
            publishers,
            rate,
            before,
            after,
            peers,
            own,
        } => {
            let servers = servers
                .iter()
                .map(|name| ServerKind::from_name(name))
                .collect::<Result<Vec<_>>>()?;
            let faults = faults
                .iter()
                .map(|name| Fault::from_name(name))
                .collect::<Result<Vec<_>>>()?;
            let mut programs = own.programs();
            if let Some(peers) = peers {
                programs.peers = peers
                    .canonicalize()
                    .with_context(|| format!("no peers folder at {}", peers.display()))?;
            }
            let storm = ResumeStorm::new(clients)
                .publishers_per_room(publishers)
                .rate(rate)
                .before(before)
                .after(after);
            let mut results = Vec::new();
            for &fault in &faults {
                for &kind in &servers {
                    let label = format!("resume · {} · {}", fault.name(), kind.name());
                    let launch = Launch::default().socket_io_recovery(true);
                    let result = bounded(&label, Duration::from_secs(180), async {
                        let mut server = ServerProcess::start_with(kind, &programs, launch).await?;
                        let endpoint = server.endpoint()?;
                        let pid = server.pid()?;
                        let crash = async || {
                            server.crash_and_restart().await?;
                            server.pid()
                        };
                        let result = storm.run(&endpoint, pid, fault, crash, &label).await;
                        server.stop().await?;
                        result
                    })
                    .await?;
                    results.push((kind, result));
                }
            }
            let runs: Vec<_> = results.iter().map(|(kind, r)| (*kind, r)).collect();
            println!("{}", resume_table(&runs));
            let results: Vec<_> = results.into_iter().map(|(_, r)| r).collect();
            own.write_json(&results)?;
        }
        Command::Flood {
            members,
            interval,
            measure,
            flooding,
            own,
        } => {
            let flooding = flooding
                .iter()
                .map(|name| Flooding::from_name(name))
                .collect::<Result<Vec<_>>>()?;
            let suite = Suite {
                flood: Flood::new(members).interval(interval).measure(measure),
                ..Suite::default()
            };
            let (results, failures) = suite.run_floods(&flooding, &own.programs()).await;
            own.write_json(&results)?;
            println!("{}", floods_table(ServerKind::Tether, &results));
            anyhow::ensure!(failures.is_empty(), "failed: {}", failures.join("; "));
        }
    }
    Ok(())
}
