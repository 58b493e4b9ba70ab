//! Every scenario against every server, each on a freshly started server process.

use crate::{
    Attack, AttackResult, Attacks, ClusterBench, Durable, DurableResult, FanOut, Fault, Flood,
    FloodResult, Flooding, Idle, JoinStorm, Launch, Limits, Pace, ReconnectStorm, ResumeStorm,
    ServerKind, ServerProcess, chart,
    progress::Progress,
    report::{Machine, ServerResults, Sizes, SuiteReport, Versions},
    server_process::Programs,
};
use anyhow::{Context, Result, anyhow};
use std::{future::Future, path::Path, time::Duration};

/// A scenario of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Closed-loop fan-out (throughput).
    FanOut,
    /// The same fan-out against Tether keeping its history in memory (`--store memory`), to
    /// compare with its default SQLite store.
    FanOutMemory,
    /// Fixed-rate fan-out to a large room (latency).
    Latency,
    /// Idle connections (memory).
    Idle,
    /// Join storm.
    Join,
    /// Reconnect storm.
    Storm,
    /// Resume storm: the server killed (`kill -9`) and restarted while clients publish; every
    /// client must recover what it missed (Tether and Socket.IO with its recovery on).
    Resume,
    /// Resume storm with the server up: every connection dropped at once.
    ResumeDrop,
    /// Durable throughput: acked (stored) messages per second, SQLite and memory (Tether only).
    Durable,
    /// Attacks on Tether with its default limits (Tether only: the peers have no limits).
    Attack,
    /// Members chatting with and without a flooder, on Tether with its default limits.
    Flood,
    /// Fan-out across nodes on one Redis: senders on one node, the members on the others.
    ClusterFanOut,
    /// The latency a second node on Redis adds, against one node, with and without Redis.
    ClusterLatency,
    /// Idle connections on a node on Redis (memory).
    ClusterIdle,
    /// Fan-out throughput on 1, 2, 3 nodes on one Redis.
    ClusterNodes,
}

impl Scenario {
    /// Every scenario, in the order they run.
    pub const ALL: [Scenario; 15] = [
        Self::FanOut,
        Self::FanOutMemory,
        Self::Latency,
        Self::Idle,
        Self::Join,
        Self::Storm,
        Self::Resume,
        Self::ResumeDrop,
        Self::Durable,
        Self::Attack,
        Self::Flood,
        Self::ClusterFanOut,
        Self::ClusterLatency,
        Self::ClusterIdle,
        Self::ClusterNodes,
    ];

    /// Parses a command-line name.
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "fan-out" => Self::FanOut,
            "fan-out-memory" => Self::FanOutMemory,
            "latency" => Self::Latency,
            "idle" => Self::Idle,
            "join" => Self::Join,
            "storm" => Self::Storm,
            "resume" => Self::Resume,
            "resume-drop" => Self::ResumeDrop,
            "durable" => Self::Durable,
            "attack" => Self::Attack,
            "flood" => Self::Flood,
            "cluster-fan-out" => Self::ClusterFanOut,
            "cluster-latency" => Self::ClusterLatency,
            "cluster-idle" => Self::ClusterIdle,
            "cluster-nodes" => Self::ClusterNodes,
            _ => {
                return Err(anyhow!(
                    "unknown scenario {name:?}: fan-out, fan-out-memory, latency, idle, join, \
                     storm, resume, resume-drop, durable, attack, flood, cluster-fan-out, \
                     cluster-latency, cluster-idle or cluster-nodes"
                ));
            }
        })
    }

    /// Whether it runs against `kind`: the attacks and floods measure Tether's limits, which
    /// the Node peers do not have, and the stores are Tether's; the guide's server has no
    /// recovery to resume with, and no way to run as several nodes.
    pub fn applies_to(self, kind: ServerKind) -> bool {
        match self {
            Self::Attack | Self::Flood | Self::FanOutMemory | Self::Durable => {
                kind == ServerKind::Tether
            }
            Self::Resume
            | Self::ResumeDrop
            | Self::ClusterFanOut
            | Self::ClusterLatency
            | Self::ClusterIdle
            | Self::ClusterNodes => kind != ServerKind::GuideNode,
            _ => true,
        }
    }

    /// How the server is started for it.
    fn launch(self) -> Launch {
        match self {
            Self::FanOutMemory => Launch::default().tether_flags(&["--store", "memory"]),
            Self::Resume | Self::ResumeDrop => Launch::default().socket_io_recovery(true),
            _ => Launch::default(),
        }
    }
}

/// The suite's sizes and durations; [`Suite::default`] is the full run, [`Suite::quick`] a
/// smoke run that takes seconds.
#[derive(Debug, Clone)]
pub struct Suite {
    /// Scenario sizes, as reported.
    pub sizes: Sizes,
    /// Fan-out and latency: how long to measure.
    pub measure: Duration,
    /// Fan-out and latency: how long to warm up.
    pub warmup: Duration,
    /// Any one scenario against one server is abandoned after this long (each run of the
    /// attacks and floods, which start a server per run).
    pub scenario_timeout: Duration,
    /// The attacks' sizes.
    pub attacks: Attacks,
    /// The flood scenario (run once per kind of [`Flooding`]).
    pub flood: Flood,
    /// The resume storms (run once per [`Fault`]).
    pub resume: ResumeStorm,
    /// Durable throughput (run once per store).
    pub durable: Durable,
    /// The cluster scenarios.
    pub cluster: ClusterBench,
}

impl Default for Suite {
    /// The sizes of the targets: fan-out 100 × 10 (window 32), 1000 members at 50 msg/s,
    /// 19,500 idle connections, a join storm of 1000, reconnect and resume storms of 19,500,
    /// durable throughput from 100 rooms.
    fn default() -> Self {
        Self {
            sizes: Sizes {
                fan_out_members: 100,
                fan_out_senders: 10,
                fan_out_window: 32,
                latency_members: 1000,
                latency_rate: 50.0,
                idle_connections: 19_500,
                join_clients: 1000,
                storm_clients: 19_500,
                resume_clients: 19_500,
                durable_rooms: 100,
            },
            measure: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            scenario_timeout: Duration::from_secs(180),
            attacks: Attacks::default(),
            flood: Flood::new(100).measure(Duration::from_secs(15)),
            resume: ResumeStorm::new(19_500),
            durable: Durable::default().rooms(100),
            cluster: ClusterBench::default(),
        }
    }
}

impl Suite {
    /// A smoke run: every scenario, small and short.
    pub fn quick() -> Self {
        Self {
            sizes: Sizes {
                fan_out_members: 20,
                fan_out_senders: 4,
                fan_out_window: 16,
                latency_members: 50,
                latency_rate: 50.0,
                idle_connections: 500,
                join_clients: 100,
                storm_clients: 500,
                resume_clients: 500,
                durable_rooms: 10,
            },
            measure: Duration::from_secs(2),
            warmup: Duration::from_millis(500),
            scenario_timeout: Duration::from_secs(60),
            attacks: Attacks::quick(),
            flood: Flood::new(20)
                .interval(Duration::from_millis(500))
                .measure(Duration::from_secs(1))
                .drain(Duration::from_secs(1)),
            resume: ResumeStorm::new(500)
                .rate(5.0)
                .before(Duration::from_millis(500))
                .after(Duration::from_millis(500))
                .settle(Duration::from_millis(500)),
            durable: Durable::default()
                .rooms(10)
                .warmup(Duration::from_millis(200))
                .measure(Duration::from_secs(1)),
            cluster: ClusterBench::quick(),
        }
    }

    /// How long `scenario` may take against one server: the cluster scenarios that start
    /// fresh processes for each of several runs get the limit once per run.
    fn time_limit(&self, scenario: Scenario) -> Duration {
        let runs = match scenario {
            Scenario::ClusterLatency => ClusterBench::LATENCY_RUNS,
            Scenario::ClusterNodes => self.cluster.node_counts.len().max(1),
            _ => 1,
        };
        self.scenario_timeout * runs as u32
    }

    /// Runs `scenarios` against `servers`, each scenario on a fresh server process.
    pub async fn run(
        &self,
        servers: &[ServerKind],
        scenarios: &[Scenario],
        programs: &Programs,
    ) -> Result<SuiteReport> {
        let started = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let mut results: Vec<ServerResults> = servers
            .iter()
            .map(|&kind| ServerResults::new(kind))
            .collect();
        // Scenario by scenario, then server by server, so that each comparison is made close in
        // time, under the same background noise.
        for &scenario in scenarios {
            for result in &mut results {
                let kind = result.server;
                if !scenario.applies_to(kind) {
                    continue;
                }
                let outcome = match scenario {
                    // A server per run, each run bounded on its own.
                    Scenario::Attack => {
                        let runs = self.attacks.runs(&Attack::ALL);
                        let (attacks, failures) = self.run_attacks(&runs, programs).await;
                        result.attacks = attacks;
                        result.failures.extend(failures);
                        Ok(())
                    }
                    Scenario::Flood => {
                        let (floods, failures) = self.run_floods(&Flooding::ALL, programs).await;
                        result.floods = floods;
                        result.failures.extend(failures);
                        Ok(())
                    }
                    Scenario::Durable => {
                        let (durable, failures) = self.run_durable(programs).await;
                        result.durable = durable;
                        result.failures.extend(failures);
                        Ok(())
                    }
                    Scenario::ClusterFanOut
                    | Scenario::ClusterLatency
                    | Scenario::ClusterIdle
                    | Scenario::ClusterNodes => {
                        let limit = self.time_limit(scenario);
                        tokio::time::timeout(
                            limit,
                            self.run_cluster(scenario, kind, programs, result),
                        )
                        .await
                        .unwrap_or_else(|_| Err(anyhow!("timed out after {limit:?}")))
                    }
                    _ => tokio::time::timeout(
                        self.scenario_timeout,
                        self.run_one(scenario, kind, programs, result),
                    )
                    .await
                    .unwrap_or_else(|_| {
                        Err(anyhow!("timed out after {:?}", self.scenario_timeout))
                    }),
                };
                if let Err(err) = outcome {
                    eprintln!("  {scenario:?} against {} failed: {err:#}", kind.title());
                    result.failures.push(format!("{scenario:?}: {err:#}"));
                }
            }
        }
        Ok(SuiteReport {
            started,
            machine: machine(),
            versions: versions(programs).await,
            sizes: self.sizes,
            cluster: self.cluster.clone(),
            servers: results,
        })
    }

    /// Runs one of the cluster scenarios, which start their own Redis and nodes (Tether with its
    /// limits off, as in the comparisons).
    async fn run_cluster(
        &self,
        scenario: Scenario,
        kind: ServerKind,
        programs: &Programs,
        result: &mut ServerResults,
    ) -> Result<()> {
        let label = format!("{scenario:?} · {}", kind.name());
        let launch = Launch::default();
        let cluster = &self.cluster;
        match scenario {
            Scenario::ClusterFanOut => {
                result.cluster_fan_out =
                    Some(cluster.fan_out(kind, programs, &launch, &label).await?);
            }
            Scenario::ClusterLatency => {
                result.cluster_latency =
                    Some(cluster.latency(kind, programs, &launch, &label).await?);
            }
            Scenario::ClusterIdle => {
                result.cluster_idle = Some(cluster.idle(kind, programs, &launch, &label).await?);
            }
            Scenario::ClusterNodes => {
                result.cluster_nodes = cluster.nodes(kind, programs, &launch, &label).await?;
            }
            _ => unreachable!("run by run_one, run_attacks, run_floods and run_durable"),
        }
        Ok(())
    }

    async fn run_one(
        &self,
        scenario: Scenario,
        kind: ServerKind,
        programs: &Programs,
        result: &mut ServerResults,
    ) -> Result<()> {
        let s = self.sizes;
        let label = format!("{scenario:?} · {}", kind.name());
        let mut server = ServerProcess::start_with(kind, programs, scenario.launch()).await?;
        let endpoint = server.endpoint()?;
        let outcome = async {
            match scenario {
                Scenario::FanOut => {
                    let run = FanOut::new(
                        s.fan_out_members,
                        s.fan_out_senders,
                        Pace::ClosedLoop {
                            window: s.fan_out_window,
                        },
                    )
                    .warmup(self.warmup)
                    .measure(self.measure)
                    .server_pid(server.pid()?);
                    result.fan_out = Some(run.run(&endpoint, &label).await?);
                }
                Scenario::FanOutMemory => {
                    let run = FanOut::new(
                        s.fan_out_members,
                        s.fan_out_senders,
                        Pace::ClosedLoop {
                            window: s.fan_out_window,
                        },
                    )
                    .warmup(self.warmup)
                    .measure(self.measure)
                    .server_pid(server.pid()?);
                    result.fan_out_memory = Some(run.run(&endpoint, &label).await?);
                }
                Scenario::Latency => {
                    let run = FanOut::new(
                        s.latency_members,
                        1,
                        Pace::Rate {
                            per_second: s.latency_rate,
                        },
                    )
                    .room("bench-latency")
                    .warmup(self.warmup)
                    .measure(self.measure)
                    .server_pid(server.pid()?);
                    result.latency = Some(run.run(&endpoint, &label).await?);
                }
                Scenario::Idle => {
                    let run = Idle::new(s.idle_connections);
                    result.idle = Some(run.run(&endpoint, server.pid()?, &label).await?);
                }
                Scenario::Join => {
                    let run = JoinStorm::new(s.join_clients);
                    result.join_storm = Some(run.run(&endpoint, &label).await?);
                }
                Scenario::Storm => {
                    let run = ReconnectStorm::new(s.storm_clients);
                    let restart = async || server.restart().await;
                    result.reconnect_storm = Some(run.run(&endpoint, restart, &label).await?);
                }
                Scenario::Resume => {
                    let pid = server.pid()?;
                    let crash = async || {
                        server.crash_and_restart().await?;
                        server.pid()
                    };
                    let run = self.resume.run(&endpoint, pid, Fault::Kill, crash, &label);
                    result.resume_kill = Some(run.await?);
                }
                Scenario::ResumeDrop => {
                    let never = async || anyhow::bail!("the server is not restarted for a drop");
                    let run = self
                        .resume
                        .run(&endpoint, server.pid()?, Fault::Drop, never, &label);
                    result.resume_drop = Some(run.await?);
                }
                Scenario::Attack
                | Scenario::Flood
                | Scenario::Durable
                | Scenario::ClusterFanOut
                | Scenario::ClusterLatency
                | Scenario::ClusterIdle
                | Scenario::ClusterNodes => {
                    unreachable!("run by run_attacks, run_floods, run_durable and run_cluster")
                }
            }
            anyhow::Ok(())
        }
        .await;
        server.stop().await?;
        outcome
    }

    /// Runs each attack of `runs` on a fresh `tether-server` with its default limits (and the
    /// run's flags); returns the results, and a line for each run that failed.
    pub async fn run_attacks(
        &self,
        runs: &[crate::attack::AttackRun],
        programs: &Programs,
    ) -> (Vec<AttackResult>, Vec<String>) {
        let mut results = Vec::new();
        let mut failures = Vec::new();
        for run in runs {
            let label = if run.server_flags.is_empty() {
                format!("attack · {}", run.attack.name())
            } else {
                let flags = run.server_flags.join(" ");
                format!("attack · {} · {flags}", run.attack.name())
            };
            let limits = Limits::Defaults {
                flags: run.server_flags.clone(),
            };
            let rounds = self.attacks.rounds.max(1);
            let limit = self.scenario_timeout * rounds as u32;
            let outcome = bounded(&label, limit, async {
                let server = ServerProcess::start_tether(programs, limits).await?;
                let mut done = Vec::new();
                for round in 1..=rounds {
                    let label = match rounds {
                        1 => label.clone(),
                        _ => format!("{label} · round {round}"),
                    };
                    let result = self
                        .attacks
                        .run(run, round, &server.endpoint()?, server.pid()?, &label)
                        .await;
                    match result {
                        Ok(result) => done.push(result),
                        Err(err) => return Ok((done, Some(err))),
                    }
                }
                server.stop().await?;
                Ok((done, None))
            })
            .await;
            let failed = match outcome {
                Ok((done, failed)) => {
                    results.extend(done);
                    failed
                }
                Err(err) => Some(err),
            };
            if let Some(err) = failed {
                Progress::new(&label).say(format_args!("failed: {err:#}"));
                failures.push(format!("{label}: {err:#}"));
            }
        }
        (results, failures)
    }

    /// Runs the flood scenario once per kind of `flooding`, each on a fresh `tether-server` with
    /// its default limits; returns the results, and a line for each run that failed.
    pub async fn run_floods(
        &self,
        flooding: &[Flooding],
        programs: &Programs,
    ) -> (Vec<FloodResult>, Vec<String>) {
        let mut results = Vec::new();
        let mut failures = Vec::new();
        for &flooding in flooding {
            let label = format!("flood · {}", flooding.name());
            let outcome = bounded(&label, self.scenario_timeout, async {
                let server = ServerProcess::start_tether(programs, Limits::defaults()).await?;
                let result = self
                    .flood
                    .clone()
                    .flooding(flooding)
                    .run(&server.endpoint()?, server.pid()?, &label)
                    .await;
                server.stop().await?;
                result
            })
            .await;
            match outcome {
                Ok(result) => results.push(result),
                Err(err) => {
                    Progress::new(&label).say(format_args!("failed: {err:#}"));
                    failures.push(format!("{label}: {err:#}"));
                }
            }
        }
        (results, failures)
    }
}

impl Suite {
    /// Runs the durable scenario once per store (SQLite, then memory), each on its own fresh
    /// `tether-server`; returns the results, and a line for each run that failed.
    pub async fn run_durable(&self, programs: &Programs) -> (Vec<DurableResult>, Vec<String>) {
        let mut results = Vec::new();
        let mut failures = Vec::new();
        for store in ["sqlite", "memory"] {
            let label = format!("durable · {store}");
            let progress = Progress::new(&label);
            let outcome = bounded(
                &label,
                self.scenario_timeout,
                self.durable.run(programs, store),
            )
            .await;
            match outcome {
                Ok(result) => {
                    progress.say(format_args!(
                        "{} acked ({:.0}/s), {} refused",
                        result.acked, result.per_second, result.refused
                    ));
                    results.push(result);
                }
                Err(err) => {
                    progress.say(format_args!("failed: {err:#}"));
                    failures.push(format!("{label}: {err:#}"));
                }
            }
        }
        (results, failures)
    }
}

/// Writes `results.md`, `results.json` and `results.svg` into `dir`.
pub fn write(report: &SuiteReport, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    write("results.md", report.to_markdown())?;
    write("results.json", serde_json::to_string_pretty(report)? + "\n")?;
    chart::draw(report, &dir.join("results.svg"))
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    Machine {
        cpu,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
    }
}

async fn versions(programs: &Programs) -> Versions {
    let node = output(tokio::process::Command::new(&programs.node).arg("--version")).await;
    let package = |name: &str| {
        let path = programs
            .peers
            .join("node_modules")
            .join(name)
            .join("package.json");
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|json| json["version"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "unknown".into())
    };
    let commit =
        output(tokio::process::Command::new("git").args(["rev-parse", "--short", "HEAD"])).await;
    let redis_server = output(tokio::process::Command::new(&programs.redis).arg("--version")).await;
    // "Redis server v=7.0.15 sha=… malloc=…": the version is enough.
    let redis_server = redis_server
        .split_whitespace()
        .find_map(|word| word.strip_prefix("v="))
        .map_or(redis_server.clone(), |v| format!("redis-server {v}"));
    Versions {
        tether: format!("{} ({commit})", env!("CARGO_PKG_VERSION")),
        node,
        ws: package("ws"),
        socket_io: package("socket.io"),
        redis_adapter: format!(
            "{} with redis {}",
            package("@socket.io/redis-adapter"),
            package("redis")
        ),
        redis_server,
    }
}

async fn output(command: &mut tokio::process::Command) -> String {
    command
        .output()
        .await
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

/// Runs `future` and turns a timeout into an error naming `what`.
pub async fn bounded<T>(
    what: &str,
    limit: Duration,
    future: impl Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(limit, future)
        .await
        .map_err(|_| anyhow!("{what} timed out after {limit:?}"))?
}
