//! A suite run's results: JSON for machines, a markdown table for people.

use crate::{
    AttackResult, ClusterBench, ClusterLatency, DurableResult, FanOutResult, Fault, FloodResult,
    Flooding, IdleResult, JoinStormResult, ReconnectStormResult, ResumeStormResult, ServerKind,
    ServerMetrics,
};
use serde::Serialize;
use std::fmt::Write;

/// Everything one `tether-bench suite` run measured, with where and when.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteReport {
    /// When the run started (UTC, RFC 3339).
    pub started: String,
    /// The machine it ran on.
    pub machine: Machine,
    /// The versions measured.
    pub versions: Versions,
    /// The scenarios' sizes.
    pub sizes: Sizes,
    /// The cluster scenarios' sizes.
    pub cluster: ClusterBench,
    /// One entry per server.
    pub servers: Vec<ServerResults>,
}

/// The machine, from `/proc`.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Logical CPUs.
    pub cpus: usize,
    /// Kernel release.
    pub kernel: String,
}

/// What was measured.
#[derive(Debug, Clone, Serialize)]
pub struct Versions {
    /// tether-server (this workspace's version) and the commit, when known.
    pub tether: String,
    /// `node --version`.
    pub node: String,
    /// The `ws` package the guide's server runs on.
    pub ws: String,
    /// The `socket.io` package.
    pub socket_io: String,
    /// The `@socket.io/redis-adapter` package, and the `redis` client it runs on.
    pub redis_adapter: String,
    /// `redis-server --version`.
    pub redis_server: String,
}

/// How big each scenario was.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sizes {
    /// Fan-out: members.
    pub fan_out_members: usize,
    /// Fan-out: senders.
    pub fan_out_senders: usize,
    /// Fan-out: closed-loop window per sender.
    pub fan_out_window: usize,
    /// Latency: members.
    pub latency_members: usize,
    /// Latency: messages per second from the one sender.
    pub latency_rate: f64,
    /// Idle connections.
    pub idle_connections: usize,
    /// Join storm clients.
    pub join_clients: usize,
    /// Reconnect storm clients.
    pub storm_clients: usize,
    /// Resume storm clients.
    pub resume_clients: usize,
    /// Durable throughput: rooms, one sender each.
    pub durable_rooms: usize,
}

/// One server's results; a scenario that failed has `None` and a line in `failures`.
#[derive(Debug, Clone, Serialize)]
pub struct ServerResults {
    /// Which server.
    pub server: ServerKind,
    /// Closed-loop fan-out (Tether: its default store, SQLite).
    pub fan_out: Option<FanOutResult>,
    /// Closed-loop fan-out, Tether with `--store memory`.
    pub fan_out_memory: Option<FanOutResult>,
    /// Fixed-rate fan-out to a large room.
    pub latency: Option<FanOutResult>,
    /// Memory per idle connection.
    pub idle: Option<IdleResult>,
    /// Join storm.
    pub join_storm: Option<JoinStormResult>,
    /// Reconnect storm.
    pub reconnect_storm: Option<ReconnectStormResult>,
    /// Resume storm after `kill -9`.
    pub resume_kill: Option<ResumeStormResult>,
    /// Resume storm after every connection was dropped, the server up.
    pub resume_drop: Option<ResumeStormResult>,
    /// Durable throughput, one per store (Tether only).
    pub durable: Vec<DurableResult>,
    /// Attacks on the server with its default limits (Tether only), one per run.
    pub attacks: Vec<AttackResult>,
    /// Ordinary members chatting with and without a flooder (Tether only), one per run.
    pub floods: Vec<FloodResult>,
    /// Fan-out across nodes on one Redis: senders on one node, members on the others.
    pub cluster_fan_out: Option<FanOutResult>,
    /// Latency to a large room on one server without Redis, one node on Redis, and with the
    /// members on a second node.
    pub cluster_latency: Option<ClusterLatency>,
    /// Memory per idle connection on a node on Redis.
    pub cluster_idle: Option<IdleResult>,
    /// Fan-out throughput by number of nodes, one result per point.
    pub cluster_nodes: Vec<FanOutResult>,
    /// Scenarios that failed, and why.
    pub failures: Vec<String>,
}

impl ServerResults {
    /// No results yet.
    pub fn new(server: ServerKind) -> Self {
        Self {
            server,
            fan_out: None,
            fan_out_memory: None,
            latency: None,
            idle: None,
            join_storm: None,
            reconnect_storm: None,
            resume_kill: None,
            resume_drop: None,
            durable: Vec::new(),
            attacks: Vec::new(),
            floods: Vec::new(),
            cluster_fan_out: None,
            cluster_latency: None,
            cluster_idle: None,
            cluster_nodes: Vec::new(),
            failures: Vec::new(),
        }
    }
}

/// One row of the table: a label, how to read the figure from a server's results, how to print
/// it, and the target for Tether.
struct Row {
    label: String,
    value: fn(&ServerResults) -> Option<f64>,
    format: fn(f64) -> String,
    /// Whether a larger figure is better: the ratio is always "how many times better Tether is".
    higher_is_better: bool,
    target: Option<Target>,
}

/// A target Tether must meet.
#[derive(Clone, Copy)]
enum Target {
    /// At least this many times the guide's Node server.
    TimesNode(f64),
    /// At least this many times Socket.IO.
    TimesSocketIo(f64),
    /// At most this absolute figure.
    AtMost(f64),
    /// At least this absolute figure.
    AtLeast(f64),
}

impl ServerResults {
    fn resume(&self, fault: Fault) -> Option<&ResumeStormResult> {
        match fault {
            Fault::Kill => self.resume_kill.as_ref(),
            Fault::Drop => self.resume_drop.as_ref(),
        }
    }

    fn durable(&self, store: &str) -> Option<&DurableResult> {
        self.durable.iter().find(|d| d.store == store)
    }
}

impl SuiteReport {
    fn server(&self, kind: ServerKind) -> Option<&ServerResults> {
        self.servers.iter().find(|s| s.server == kind)
    }

    fn rows(&self) -> Vec<Row> {
        let s = self.sizes;
        vec![
            Row {
                label: format!(
                    "Fan-out, {} members × {} senders, closed loop: deliveries/s (Tether: SQLite \
                     store)",
                    s.fan_out_members, s.fan_out_senders
                ),
                value: |r| r.fan_out.as_ref().map(|f| f.delivered_per_second),
                format: rate,
                higher_is_better: true,
                target: Some(Target::TimesNode(10.0)),
            },
            Row {
                label: "Fan-out, Tether with `--store memory`: deliveries/s".into(),
                value: |r| r.fan_out_memory.as_ref().map(|f| f.delivered_per_second),
                format: rate,
                higher_is_better: true,
                target: None,
            },
            Row {
                label: "Fan-out: Tether's SQLite store ÷ its memory store".into(),
                value: |r| {
                    let sqlite = r.fan_out.as_ref()?.delivered_per_second;
                    let memory = r.fan_out_memory.as_ref()?.delivered_per_second;
                    (memory > 0.0).then(|| sqlite / memory)
                },
                format: |v| format!("{v:.2}×"),
                higher_is_better: true,
                target: Some(Target::AtLeast(0.9)),
            },
            Row {
                label: "Fan-out: latency p99".into(),
                value: |r| r.fan_out.as_ref().map(|f| f.latency.p99_ms),
                format: ms,
                higher_is_better: false,
                target: None,
            },
            Row {
                label: "Fan-out: server CPU per delivery".into(),
                value: |r| r.fan_out.as_ref()?.server_cpu_micros_per_delivery(),
                format: micros,
                higher_is_better: false,
                target: None,
            },
            Row {
                label: format!(
                    "{} members, 1 sender at {} msg/s: latency p50",
                    s.latency_members, s.latency_rate
                ),
                value: |r| r.latency.as_ref().map(|f| f.latency.p50_ms),
                format: ms,
                higher_is_better: false,
                target: None,
            },
            Row {
                label: format!(
                    "{} members at {} msg/s: latency p99",
                    s.latency_members, s.latency_rate
                ),
                value: |r| r.latency.as_ref().map(|f| f.latency.p99_ms),
                format: ms,
                higher_is_better: false,
                target: Some(Target::AtMost(7.0)),
            },
            Row {
                label: format!(
                    "{} members at {} msg/s: server CPU per delivery",
                    s.latency_members, s.latency_rate
                ),
                value: |r| r.latency.as_ref()?.server_cpu_micros_per_delivery(),
                format: micros,
                higher_is_better: false,
                target: None,
            },
            Row {
                label: format!(
                    "{} members at {} msg/s: the generator's CPU per delivery, same cores",
                    s.latency_members, s.latency_rate
                ),
                value: |r| r.latency.as_ref()?.generator_cpu_micros_per_delivery(),
                format: micros,
                higher_is_better: false,
                target: None,
            },
            Row {
                label: format!(
                    "Join storm: {} clients join one room, all joined",
                    s.join_clients
                ),
                value: |r| r.join_storm.as_ref().map(|j| j.total_ms / 1000.0),
                format: seconds,
                higher_is_better: false,
                target: Some(Target::AtMost(0.3)),
            },
            Row {
                label: format!(
                    "Reconnect storm: {} clients back after a restart",
                    s.storm_clients
                ),
                value: |r| r.reconnect_storm.as_ref().map(|j| j.seconds),
                format: seconds,
                higher_is_better: false,
                target: Some(Target::AtMost(2.0)),
            },
            Row {
                label: format!(
                    "Resume after kill -9 (Tether: SQLite): {} clients back with all they missed",
                    s.resume_clients
                ),
                value: |r| r.resume(Fault::Kill).map(ResumeStormResult::back_seconds),
                format: back_seconds,
                higher_is_better: false,
                target: Some(Target::AtMost(3.0)),
            },
            Row {
                label: "Resume after kill -9: deliveries owed".into(),
                value: |r| r.resume(Fault::Kill).map(|x| x.expected as f64),
                format: count,
                higher_is_better: true,
                target: None,
            },
            Row {
                label: "Resume after kill -9: deliveries lost".into(),
                value: |r| r.resume(Fault::Kill).map(|x| x.lost as f64),
                format: count,
                higher_is_better: false,
                target: Some(Target::AtMost(0.0)),
            },
            Row {
                label: "Resume after kill -9: deliveries duplicated".into(),
                value: |r| r.resume(Fault::Kill).map(|x| x.duplicated as f64),
                format: count,
                higher_is_better: false,
                target: Some(Target::AtMost(0.0)),
            },
            Row {
                label: "Resume after kill -9: sessions not recovered".into(),
                value: |r| r.resume(Fault::Kill).map(|x| x.not_recovered as f64),
                format: count,
                higher_is_better: false,
                target: Some(Target::AtMost(0.0)),
            },
            Row {
                label: "Resume after kill -9: messages replayed".into(),
                value: |r| r.resume(Fault::Kill).map(|x| x.replayed as f64),
                format: count,
                higher_is_better: true,
                target: None,
            },
            Row {
                label: format!(
                    "Connections dropped, server up: {} clients back with all they missed",
                    s.resume_clients
                ),
                value: |r| r.resume(Fault::Drop).map(ResumeStormResult::back_seconds),
                format: back_seconds,
                higher_is_better: false,
                target: None,
            },
            Row {
                label: "Connections dropped: deliveries lost".into(),
                value: |r| r.resume(Fault::Drop).map(|x| x.lost as f64),
                format: count,
                higher_is_better: false,
                target: Some(Target::AtMost(0.0)),
            },
            Row {
                label: "Connections dropped: deliveries duplicated".into(),
                value: |r| r.resume(Fault::Drop).map(|x| x.duplicated as f64),
                format: count,
                higher_is_better: false,
                target: Some(Target::AtMost(0.0)),
            },
            Row {
                label: "Connections dropped: sessions not recovered".into(),
                value: |r| r.resume(Fault::Drop).map(|x| x.not_recovered as f64),
                format: count,
                higher_is_better: false,
                target: Some(Target::AtMost(0.0)),
            },
            Row {
                label: format!(
                    "Durable: acked messages/s, SQLite, {} rooms × 32 in flight",
                    s.durable_rooms
                ),
                value: |r| r.durable("sqlite").map(|d| d.per_second),
                format: rate,
                higher_is_better: true,
                target: Some(Target::AtLeast(100_000.0)),
            },
            Row {
                label: "Durable: acked messages/s, `--store memory`".into(),
                value: |r| r.durable("memory").map(|d| d.per_second),
                format: rate,
                higher_is_better: true,
                target: None,
            },
            Row {
                label: format!("Idle: server RSS per connection at {}", s.idle_connections),
                value: |r| r.idle.as_ref().map(|i| i.rss_bytes_per_connection),
                format: bytes,
                higher_is_better: false,
                target: Some(Target::AtMost(4000.0)),
            },
            Row {
                label: "Messages lost (fan-out + latency runs)".into(),
                value: |r| match (&r.fan_out, &r.latency) {
                    (None, None) => None,
                    (a, b) => Some(
                        (a.as_ref().map_or(0, |f| f.lost) + b.as_ref().map_or(0, |f| f.lost))
                            as f64,
                    ),
                },
                format: |v| format!("{v:.0}"),
                higher_is_better: false,
                target: Some(Target::AtMost(0.0)),
            },
        ]
    }

    /// The results as a markdown table, with Tether's ratio to the guide's Node server and
    /// whether each target is met, followed by the run's details and any failures.
    pub fn to_markdown(&self) -> String {
        let kinds: Vec<ServerKind> = self.servers.iter().map(|s| s.server).collect();
        let mut out = String::new();
        let _ = write!(out, "| Scenario |");
        for kind in &kinds {
            let _ = write!(out, " {} |", kind.title());
        }
        let _ = writeln!(out, " Tether ÷ Node | Target | Met |");
        let _ = write!(out, "|---|");
        for _ in &kinds {
            let _ = write!(out, "---:|");
        }
        let _ = writeln!(out, "---:|---|---|");
        for row in self.rows() {
            let _ = write!(out, "| {} |", row.label);
            for kind in &kinds {
                let value = self.server(*kind).and_then(row.value);
                let _ = write!(out, " {} |", value.map_or("—".into(), row.format));
            }
            let tether = self.server(ServerKind::Tether).and_then(row.value);
            let node = self.server(ServerKind::GuideNode).and_then(row.value);
            let ratio = match (tether, node) {
                (Some(t), Some(n)) if t > 0.0 && n > 0.0 => {
                    let times = if row.higher_is_better { t / n } else { n / t };
                    format!("{times:.1}×")
                }
                _ => "—".into(),
            };
            let socket_io = self.server(ServerKind::SocketIo).and_then(row.value);
            let (target, met) = target_met(row.target, row.format, tether, node, socket_io);
            let _ = writeln!(out, " {ratio} | {target} | {met} |");
        }
        let _ = writeln!(
            out,
            "\nRun {}: {} × {}, Linux {}; Tether {}, Node {}, ws {}, socket.io {}.",
            self.started,
            self.machine.cpus,
            self.machine.cpu,
            self.machine.kernel,
            self.versions.tether,
            self.versions.node,
            self.versions.ws,
            self.versions.socket_io
        );
        let clustered: Vec<(ServerKind, Vec<&ServerResults>)> = self
            .servers
            .iter()
            .filter(|s| s.has_cluster_results())
            .map(|s| (s.server, vec![s]))
            .collect();
        if !clustered.is_empty() {
            let _ = write!(
                out,
                "\n{}",
                cluster_table(&self.cluster, &self.versions, &clustered)
            );
        }
        let resumes: Vec<(ServerKind, &ResumeStormResult)> = Fault::ALL
            .iter()
            .flat_map(|&fault| {
                self.servers
                    .iter()
                    .filter_map(move |s| Some((s.server, s.resume(fault)?)))
            })
            .collect();
        if !resumes.is_empty() {
            let _ = write!(out, "\n{}", resume_table(&resumes));
        }
        for server in &self.servers {
            if !server.attacks.is_empty() {
                let _ = write!(out, "\n{}", attacks_table(server.server, &server.attacks));
            }
            if !server.floods.is_empty() {
                let _ = write!(out, "\n{}", floods_table(server.server, &server.floods));
            }
        }
        for server in &self.servers {
            for failure in &server.failures {
                let _ = writeln!(out, "\n- {} failed: {failure}", server.server.title());
            }
        }
        out
    }
}

/// The target's text and whether Tether meets it, from Tether's figure and the others'.
fn target_met(
    target: Option<Target>,
    format: impl Fn(f64) -> String,
    tether: Option<f64>,
    node: Option<f64>,
    socket_io: Option<f64>,
) -> (String, String) {
    let times = |times: f64, other: Option<f64>| match (tether, other) {
        (Some(t), Some(o)) => yes_no(t >= times * o),
        _ => "—".into(),
    };
    match target {
        Some(Target::TimesNode(n)) => (format!("≥ {n:.0}× Node"), times(n, node)),
        Some(Target::TimesSocketIo(n)) => (format!("≥ {n:.0}× Socket.IO"), times(n, socket_io)),
        Some(Target::AtMost(limit)) => (
            format!("≤ {}", format(limit)),
            tether.map_or("—".into(), |t| yes_no(t <= limit)),
        ),
        Some(Target::AtLeast(limit)) => (
            format!("≥ {}", format(limit)),
            tether.map_or("—".into(), |t| yes_no(t >= limit)),
        ),
        None => (String::new(), String::new()),
    }
}

impl ServerResults {
    /// Whether any cluster scenario left a result.
    pub fn has_cluster_results(&self) -> bool {
        self.cluster_fan_out.is_some()
            || self.cluster_latency.is_some()
            || self.cluster_idle.is_some()
            || !self.cluster_nodes.is_empty()
    }
}

/// How a cluster row reads its figure from one run's results.
type Figure = Box<dyn Fn(&ServerResults) -> Option<f64>>;

/// One row of the cluster table: as [`Row`], with a figure that may depend on the sizes.
struct ClusterRow {
    label: String,
    value: Figure,
    format: fn(f64) -> String,
    higher_is_better: bool,
    /// Whether the Tether ÷ Socket.IO column is filled: for throughput, CPU and memory, not for
    /// differences or latencies on a small room.
    ratio: bool,
    target: Option<Target>,
}

impl ClusterRow {
    fn new(
        label: impl Into<String>,
        value: impl Fn(&ServerResults) -> Option<f64> + 'static,
        format: fn(f64) -> String,
    ) -> Self {
        Self {
            label: label.into(),
            value: Box::new(value),
            format,
            higher_is_better: false,
            ratio: false,
            target: None,
        }
    }

    fn higher_is_better(mut self) -> Self {
        self.higher_is_better = true;
        self
    }

    fn ratio(mut self) -> Self {
        self.ratio = true;
        self
    }

    fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }
}

fn cluster_rows(c: &ClusterBench) -> Vec<ClusterRow> {
    let fan_out = |r: &ServerResults| r.cluster_fan_out.clone();
    let latency = |r: &ServerResults| r.cluster_latency.clone();
    let mut rows = vec![
        ClusterRow::new(
            format!(
                "Fan-out across {} nodes: {} senders on node 1, the other {} members round-robin \
                 on the other {}, closed loop (window {}): deliveries/s",
                c.fan_out_nodes,
                c.fan_out_senders,
                c.fan_out_members - c.fan_out_senders,
                c.fan_out_nodes.saturating_sub(1),
                c.fan_out_window
            ),
            move |r| fan_out(r).map(|f| f.delivered_per_second),
            rate,
        )
        .higher_is_better()
        .ratio()
        .target(Target::TimesSocketIo(10.0)),
        ClusterRow::new(
            "… latency p50",
            move |r| fan_out(r).map(|f| f.latency.p50_ms),
            ms,
        ),
        ClusterRow::new(
            "… latency p99",
            move |r| fan_out(r).map(|f| f.latency.p99_ms),
            ms,
        ),
        ClusterRow::new(
            "… CPU per delivery, every node together",
            move |r| fan_out(r)?.server_cpu_micros_per_delivery(),
            micros,
        )
        .ratio(),
        ClusterRow::new(
            "… Redis's CPU, in cores",
            move |r| fan_out(r).and_then(|f| Some(f.redis_cpu_seconds? / f.seconds)),
            cores,
        ),
    ];
    let what = format!(
        "{} members, 1 sender at {} msg/s",
        c.latency_members, c.latency_rate
    );
    rows.extend([
        ClusterRow::new(
            format!("{what}, the members on a second node: latency p50"),
            move |r| latency(r).map(|l| l.second_node.latency.p50_ms),
            ms,
        ),
        ClusterRow::new(
            "… p99",
            move |r| latency(r).map(|l| l.second_node.latency.p99_ms),
            ms,
        ),
        ClusterRow::new(
            format!("{what}, all on one node on Redis: latency p50"),
            move |r| latency(r).map(|l| l.one_node.latency.p50_ms),
            ms,
        ),
        ClusterRow::new(
            "… p99",
            move |r| latency(r).map(|l| l.one_node.latency.p99_ms),
            ms,
        ),
        ClusterRow::new(
            format!(
                "{what}, all on one server without Redis (Tether: SQLite; Socket.IO: its \
                 in-memory adapter): latency p50"
            ),
            move |r| latency(r).map(|l| l.without_redis.latency.p50_ms),
            ms,
        ),
        ClusterRow::new(
            "… p99",
            move |r| latency(r).map(|l| l.without_redis.latency.p99_ms),
            ms,
        ),
        ClusterRow::new(
            "p99 the second node adds, against one node on Redis",
            move |r| latency(r).map(|l| l.added_p99_ms()),
            signed_ms,
        )
        .target(Target::AtMost(2.0)),
        ClusterRow::new(
            "p99 the second node adds, against one server without Redis",
            move |r| latency(r).map(|l| l.added_p99_without_redis_ms()),
            signed_ms,
        )
        .target(Target::AtMost(2.0)),
        ClusterRow::new(
            "Members on a second node: CPU per delivery, both nodes together",
            move |r| latency(r)?.second_node.server_cpu_micros_per_delivery(),
            micros,
        )
        .ratio(),
        ClusterRow::new(
            "One server without Redis: CPU per delivery",
            move |r| latency(r)?.without_redis.server_cpu_micros_per_delivery(),
            micros,
        )
        .ratio(),
        ClusterRow::new(
            format!(
                "Idle: a node's RSS per connection at {}, on Redis",
                c.idle_connections
            ),
            |r| r.cluster_idle.as_ref().map(|i| i.rss_bytes_per_connection),
            bytes,
        )
        .ratio()
        .target(Target::AtMost(4000.0)),
        ClusterRow::new(
            "… Redis's RSS per connection",
            |r| r.cluster_idle.as_ref()?.redis_rss_bytes_per_connection(),
            bytes,
        ),
    ]);
    for &nodes in &c.node_counts {
        let point = move |r: &ServerResults| {
            r.cluster_nodes
                .iter()
                .find(|f| f.members_per_node.len() == nodes)
                .cloned()
        };
        rows.push(
            ClusterRow::new(
                format!(
                    "Fan-out {} × {} on {nodes} node{} on Redis, everyone round-robin: \
                     deliveries/s",
                    c.fan_out_members,
                    c.fan_out_senders,
                    if nodes == 1 { "" } else { "s" }
                ),
                move |r| point(r).map(|f| f.delivered_per_second),
                rate,
            )
            .higher_is_better()
            .ratio(),
        );
        rows.push(
            ClusterRow::new(
                "… CPU per delivery, every node together",
                move |r| point(r)?.server_cpu_micros_per_delivery(),
                micros,
            )
            .ratio(),
        );
    }
    rows.push(
        ClusterRow::new(
            "Deliveries lost in the cluster runs",
            |r| {
                let lost = r.cluster_fan_out.iter().map(|f| f.lost).sum::<u64>()
                    + r.cluster_latency
                        .iter()
                        .map(ClusterLatency::lost)
                        .sum::<u64>()
                    + r.cluster_nodes.iter().map(|f| f.lost).sum::<u64>();
                r.has_cluster_results().then_some(lost as f64)
            },
            count,
        )
        .target(Target::AtMost(0.0)),
    );
    rows
}

/// The cluster scenarios as a markdown table, Tether beside Socket.IO with its redis-adapter:
/// for each server, its runs; a figure of several runs is their median with the range.
pub fn cluster_table(
    sizes: &ClusterBench,
    versions: &Versions,
    runs: &[(ServerKind, Vec<&ServerResults>)],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Several nodes on one Redis ({}; Tether with `--redis`, Socket.IO with \
         `@socket.io/redis-adapter` {}); each run on a fresh Redis and fresh nodes{}:\n",
        versions.redis_server,
        versions.redis_adapter,
        match runs.iter().map(|(_, r)| r.len()).max() {
            Some(n) if n > 1 => format!("; median of {n} runs (lowest–highest)"),
            _ => String::new(),
        }
    );
    let title = |kind: ServerKind| match kind {
        ServerKind::SocketIo => "Socket.IO 4 + redis-adapter",
        other => other.title(),
    };
    let _ = write!(out, "| Figure |");
    for (kind, _) in runs {
        let _ = write!(out, " {} |", title(*kind));
    }
    let _ = writeln!(out, " Tether ÷ Socket.IO | Target | Met |");
    let _ = write!(out, "|---|");
    for _ in runs {
        let _ = write!(out, "---:|");
    }
    let _ = writeln!(out, "---:|---|---|");
    for row in cluster_rows(sizes) {
        // A scenario that was not run leaves no row.
        let measured = runs
            .iter()
            .any(|(_, results)| results.iter().any(|r| (row.value)(r).is_some()));
        if !measured {
            continue;
        }
        let mut medians = Vec::new();
        let _ = write!(out, "| {} |", row.label);
        for (kind, results) in runs {
            let values: Vec<f64> = results.iter().filter_map(|r| (row.value)(r)).collect();
            let median = median(&values);
            medians.push((*kind, median));
            let cell = match (median, values.len()) {
                (None, _) => "—".to_owned(),
                (Some(m), 1) => (row.format)(m),
                (Some(m), _) => {
                    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
                    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    if (row.format)(low) == (row.format)(high) {
                        let _ = write!(out, " {} |", (row.format)(m));
                        continue;
                    }
                    format!(
                        "{} ({}–{})",
                        (row.format)(m),
                        (row.format)(low),
                        (row.format)(high)
                    )
                }
            };
            let _ = write!(out, " {cell} |");
        }
        let of = |kind| {
            medians
                .iter()
                .find(|(k, _)| *k == kind)
                .and_then(|(_, m)| *m)
        };
        let (tether, socket_io) = (of(ServerKind::Tether), of(ServerKind::SocketIo));
        let ratio = match (tether, socket_io) {
            (Some(t), Some(s)) if t > 0.0 && s > 0.0 && row.ratio => {
                let times = if row.higher_is_better { t / s } else { s / t };
                format!("{times:.1}×")
            }
            _ => "—".into(),
        };
        let (target, met) = target_met(row.target, row.format, tether, None, socket_io);
        let _ = writeln!(out, " {ratio} | {target} | {met} |");
    }
    out
}

/// The median of `values`; `None` when there are none.
fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The attacks as a markdown table: the server's memory before, at its peak and after each, and
/// what happened to the attacker.
pub fn attacks_table(server: ServerKind, attacks: &[AttackResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Attacks on {} with its default limits (RSS: the server's VmRSS, sampled every 50 ms):\n",
        server.title()
    );
    let _ = writeln!(
        out,
        "| Attack | Server flags | RSS before | Peak | After | Peak − before | After − before | \
         Took | What happened to the attacker | Server counters |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---|---|");
    for attack in attacks {
        let flags = if attack.server_flags.is_empty() {
            "defaults".to_owned()
        } else {
            format!("`{}`", attack.server_flags.join(" "))
        };
        let mut outcome = attack.outcome.summary();
        if attack.connections_left > 0.0 {
            outcome.push_str(&format!(
                "; **{} connections still held 15 s later**",
                attack.connections_left
            ));
        }
        let name = match attack.round {
            1 => attack.attack.name().to_owned(),
            round => format!("{}, round {round}", attack.attack.name()),
        };
        let _ = writeln!(
            out,
            "| {name} | {flags} | {} | {} | {} | {} | {} | {:.1} s | {outcome} | {} |",
            mib(attack.rss_before_kib as f64),
            mib(attack.rss_peak_kib as f64),
            mib(attack.rss_after_kib as f64),
            signed_mib(attack.rss_peak_kib as f64 - attack.rss_before_kib as f64),
            signed_mib(attack.rss_after_kib as f64 - attack.rss_before_kib as f64),
            attack.seconds,
            counters(&attack.server),
        );
    }
    out
}

/// The flood runs as a markdown table: the ordinary members' latency and losses with and
/// without a flooder, and what happened to the flooder.
pub fn floods_table(server: ServerKind, floods: &[FloodResult]) -> String {
    let mut out = String::new();
    let Some(first) = floods.first() else {
        return out;
    };
    let _ = writeln!(
        out,
        "{} members chatting in one room on {} with its default limits ({:.0} messages/s into the \
         room, {:.0} s each run):\n",
        first.members,
        server.title(),
        first.room_rate,
        first.seconds
    );
    let _ = writeln!(
        out,
        "| Flooder | Members' latency p50 / p99 / max | Deliveries received / expected | \
         Members closed | Slow-consumer closes | Flooder's messages delivered | Server RSS before → \
         peak | Server CPU |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for flood in floods {
        let _ = writeln!(
            out,
            "| {} | {:.2} / {:.2} / {:.2} ms | {} / {} | {} | {} | {} | {} → {} | {:.2} s |",
            flood.flooding.title(),
            flood.latency.p50_ms,
            flood.latency.p99_ms,
            flood.latency.max_ms,
            flood.received,
            flood.expected,
            bold_unless_zero(flood.members_closed as f64),
            bold_unless_zero(flood.slow_consumer_closes()),
            flood.flooder_deliveries,
            mib(flood.rss_before_kib as f64),
            mib(flood.rss_peak_kib as f64),
            flood.server_cpu_seconds,
        );
    }
    for flood in floods {
        if let (Some(fate), true) = (&flood.flooder, flood.flooding != Flooding::None) {
            let _ = writeln!(out, "\n- {}: {}", flood.flooding.title(), fate.summary());
        }
        if !flood.member_endings.is_empty() {
            let _ = writeln!(
                out,
                "\n- {}: members closed: {:?}",
                flood.flooding.title(),
                flood.member_endings
            );
        }
    }
    out
}

/// The resume storms as a markdown table: per server and fault, what was published, resent,
/// owed, replayed, lost and duplicated.
pub fn resume_table(runs: &[(ServerKind, &ResumeStormResult)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Resume storms (deliveries: a message owed to a member; seq gaps and store checks are \
         Tether's):\n"
    );
    let _ = writeln!(
        out,
        "| Server | Fault | Clients | Publishers × msg/s | All back | Server CPU meanwhile | \
         Published | Unacked at the fault / at the end | Resent | Acked as duplicate | Deliveries owed | Received | Replayed | Lost | \
         Duplicated | Seq gaps / repeats | Not recovered | New ids | Store top mismatches |"
    );
    let _ = writeln!(
        out,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"
    );
    for (server, r) in runs {
        let gaps = match (r.seq_gaps, r.seq_repeats) {
            (Some(gaps), Some(repeats)) => format!("{gaps} / {repeats}"),
            _ => "—".into(),
        };
        let back = match r.not_back {
            0 => format!("{:.2} s", r.seconds),
            n => format!("**{n} not back after {:.0} s**", r.seconds),
        };
        let mut not_recovered = bold_unless_zero(r.not_recovered as f64);
        if !r.reasons.is_empty() {
            let reasons: Vec<String> = r.reasons.iter().map(|(k, v)| format!("{k} {v}")).collect();
            not_recovered.push_str(&format!(" ({})", reasons.join(", ")));
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} × {} | {back} | {:.2} s ({:.0} µs a client) | {} | {} / {} | {} \
             | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            server.title(),
            match r.fault {
                Fault::Kill => "kill -9, restart",
                Fault::Drop => "connections dropped",
            },
            r.clients,
            r.publishers,
            r.rate,
            r.server_cpu_seconds,
            r.server_cpu_micros_per_client(),
            r.published,
            r.unacked_at_fault,
            r.unacked_at_end,
            r.resent,
            r.acked_duplicate,
            r.expected,
            r.delivered,
            r.replayed,
            bold_unless_zero(r.lost as f64),
            bold_unless_zero(r.duplicated as f64),
            gaps,
            not_recovered,
            r.new_identity,
            r.store_top_mismatches.map_or("—".into(), |m| m.to_string()),
        );
    }
    out
}

/// The limits' counters that moved, by short names: what the server did about an attack.
fn counters(metrics: &ServerMetrics) -> String {
    const SHOWN: [(&str, &str); 8] = [
        ("tether_connections_refused_per_ip_total", "429s"),
        ("tether_connections_refused_full_total", "503s"),
        ("tether_request_head_timeouts_total", "head timeouts"),
        ("tether_request_heads_too_large_total", "431s"),
        ("tether_control_frames_in_total", "control frames read"),
        ("tether_messages_rate_limited_total", "rate-limited"),
        ("tether_flood_closes_total", "flood closes"),
        ("tether_slow_consumer_closes_total", "slow-consumer closes"),
    ];
    let shown: Vec<String> = SHOWN
        .iter()
        .filter(|(name, _)| metrics.get(name) != 0.0)
        .map(|(name, short)| format!("{short} {}", metrics.get(name)))
        .collect();
    if shown.is_empty() {
        "—".to_owned()
    } else {
        shown.join(", ")
    }
}

/// A count that should be 0, in bold when it is not.
fn bold_unless_zero(count: f64) -> String {
    if count == 0.0 {
        "0".to_owned()
    } else {
        format!("**{count}**")
    }
}

fn mib(kib: f64) -> String {
    format!("{:.1} MiB", kib / 1024.0)
}

fn signed_mib(kib: f64) -> String {
    format!("{:+.1} MiB", kib / 1024.0)
}

fn yes_no(yes: bool) -> String {
    if yes { "yes" } else { "**no**" }.into()
}

fn rate(per_second: f64) -> String {
    if per_second >= 1e6 {
        format!("{:.2} M/s", per_second / 1e6)
    } else {
        format!("{:.0} k/s", per_second / 1e3)
    }
}

fn ms(ms: f64) -> String {
    format!("{ms:.2} ms")
}

fn signed_ms(ms: f64) -> String {
    format!("{ms:+.2} ms")
}

fn cores(cores: f64) -> String {
    format!("{cores:.2}")
}

fn micros(micros: f64) -> String {
    format!("{micros:.1} µs")
}

fn seconds(seconds: f64) -> String {
    format!("{seconds:.2} s")
}

fn bytes(bytes: f64) -> String {
    format!("{:.0} B", bytes)
}

/// Seconds until every client was back; infinite when some never were.
fn back_seconds(seconds: f64) -> String {
    if seconds.is_finite() {
        format!("{seconds:.2} s")
    } else {
        "**not all back**".into()
    }
}

fn count(count: f64) -> String {
    format!("{count:.0}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FanOutResult, LatencySummary, Pace};

    fn fan_out(per_second: f64) -> FanOutResult {
        FanOutResult {
            members: 100,
            senders: 10,
            pace: Pace::ClosedLoop { window: 32 },
            members_per_node: vec![100],
            seconds: 10.0,
            sent: 1,
            delivered: (per_second * 10.0) as u64,
            delivered_per_second: per_second,
            lost: 0,
            latency: LatencySummary::default(),
            server_cpu_seconds: Some(4.0),
            redis_cpu_seconds: None,
            generator_cpu_seconds: 6.0,
        }
    }

    fn report() -> SuiteReport {
        let mut tether = ServerResults::new(ServerKind::Tether);
        tether.fan_out = Some(fan_out(2_000_000.0));
        let mut node = ServerResults::new(ServerKind::GuideNode);
        node.fan_out = Some(fan_out(180_000.0));
        node.failures.push("idle: out of memory".into());
        SuiteReport {
            started: "2026-11-25T00:00:00Z".into(),
            machine: Machine {
                cpu: "CPU".into(),
                cpus: 2,
                kernel: "6.1".into(),
            },
            versions: Versions {
                tether: "0.1.0".into(),
                node: "v20".into(),
                ws: "8".into(),
                socket_io: "4".into(),
                redis_adapter: "8.3.0".into(),
                redis_server: "Redis 7".into(),
            },
            sizes: crate::suite::Suite::default().sizes,
            cluster: ClusterBench::default(),
            servers: vec![tether, node],
        }
    }

    /// The line of the report's table whose label holds `label`.
    fn row(label: &str) -> String {
        let table = report().to_markdown();
        let line = table.lines().find(|line| line.contains(label));
        line.unwrap_or_else(|| panic!("no row for {label:?} in\n{table}"))
            .to_owned()
    }

    #[test]
    fn the_table_gives_the_ratio_and_whether_the_target_is_met() {
        let row = row("closed loop");
        assert!(row.contains("2.00 M/s"), "{row}");
        assert!(row.contains("180 k/s"), "{row}");
        assert!(row.contains("| 11.1× |"), "{row}");
        assert!(row.ends_with("≥ 10× Node | yes |"), "{row}");
        assert!(
            report()
                .to_markdown()
                .contains("guide's Node ws failed: idle: out of memory")
        );
    }

    #[test]
    fn cpu_time_is_given_per_delivery() {
        let row = row("Fan-out: server CPU per delivery");
        // 4 s over 20 M and over 1.8 M deliveries; fewer microseconds are better.
        assert!(row.contains("| 0.2 µs | 2.2 µs |"), "{row}");
        assert!(row.contains("| 11.1× |"), "{row}");
    }

    #[test]
    fn the_attack_table_gives_the_growth_what_happened_and_the_counters() {
        let attack = AttackResult {
            attack: crate::Attack::IdleFlood,
            round: 2,
            server_flags: Vec::new(),
            description: "idle".into(),
            seconds: 10.04,
            rss_before_kib: 5 * 1024,
            rss_peak_kib: 16 * 1024,
            rss_after_kib: 15 * 1024 + 512,
            connections_left: 0.0,
            outcome: crate::attack::Outcome {
                sent: 10,
                sent_what: "connections".into(),
                endings: crate::attack::Endings::one(
                    "HTTP 429",
                    std::time::Duration::from_millis(3),
                ),
                flooder: None,
                members: None,
            },
            server: ServerMetrics::parse(
                "tether_connections_refused_per_ip_total 8976\ntether_messages_in_total 4\n",
            ),
        };
        let table = attacks_table(ServerKind::Tether, &[attack]);
        let row = table.lines().last().expect("a row");
        assert_eq!(
            row,
            "| idle-flood, round 2 | defaults | 5.0 MiB | 16.0 MiB | 15.5 MiB | +11.0 MiB | \
             +10.5 MiB | 10.0 s | HTTP 429 after 3 ms | 429s 8976 |"
        );
    }

    #[test]
    fn the_flood_table_has_a_row_per_run_and_the_flooders_fate_below() {
        let flood = |flooding: Flooding| FloodResult {
            members: 100,
            room_rate: 50.0,
            seconds: 15.0,
            flooding,
            sent: 750,
            expected: 74_250,
            received: 74_250,
            lost: 0,
            latency: LatencySummary {
                samples: 74_250,
                p50_ms: 0.5,
                p90_ms: 1.0,
                p99_ms: 2.0,
                max_ms: 9.0,
            },
            members_closed: 0,
            member_endings: Default::default(),
            flooder_deliveries: 0,
            flooder: (flooding != Flooding::None).then(crate::FlooderFate::default),
            server: ServerMetrics::default(),
            rss_before_kib: 5 * 1024,
            rss_peak_kib: 6 * 1024,
            rss_end_kib: 6 * 1024,
            server_cpu_seconds: 1.25,
        };
        let table = floods_table(
            ServerKind::Tether,
            &[flood(Flooding::None), flood(Flooding::One)],
        );
        assert!(
            table.contains(
                "| no flooder | 0.50 / 2.00 / 9.00 ms | 74250 / 74250 | 0 | 0 | 0 | 5.0 MiB → \
                 6.0 MiB | 1.25 s |"
            ),
            "{table}"
        );
        assert!(table.contains("\n- one flooder: 0 connections"), "{table}");
        assert!(!table.contains("- no flooder"), "{table}");
    }

    #[test]
    fn resume_rows_hold_tether_to_its_targets_and_the_table_names_socket_ios_losses() {
        let storm = |fault, lost, tether: bool| ResumeStormResult {
            fault,
            clients: 19_500,
            room_size: 10,
            publishers: 1_950,
            rate: 1.0,
            seconds: 2.5,
            not_back: 0,
            published: 9_000,
            unacked_at_fault: 40,
            resent: 40,
            unacked_at_end: 0,
            acked_duplicate: if tether { 12 } else { 0 },
            refused: 0,
            expected: 81_000,
            delivered: 81_000 - lost,
            replayed: 7_000,
            lost,
            duplicated: 0,
            seq_gaps: tether.then_some(0),
            seq_repeats: tether.then_some(0),
            not_recovered: if tether { 0 } else { 19_500 },
            reasons: Default::default(),
            new_identity: 0,
            store_top_mismatches: tether.then_some(0),
            retries: 0,
            server_cpu_seconds: 1.5,
            generator_cpu_seconds: 2.0,
        };
        let mut report = report();
        report.servers[0].resume_kill = Some(storm(Fault::Kill, 0, true));
        let mut sio = ServerResults::new(ServerKind::SocketIo);
        sio.resume_kill = Some(storm(Fault::Kill, 5_400, false));
        report.servers.push(sio);
        let table = report.to_markdown();
        let row = |label: &str| {
            table
                .lines()
                .find(|line| line.contains(label))
                .unwrap_or_else(|| panic!("no row for {label:?} in\n{table}"))
                .to_owned()
        };
        let back = row("Resume after kill -9 (Tether: SQLite)");
        assert!(back.contains("| 2.50 s | — | 2.50 s |"), "{back}");
        assert!(back.ends_with("≤ 3.00 s | yes |"), "{back}");
        let lost = row("Resume after kill -9: deliveries lost");
        assert!(lost.contains("| 0 | — | 5400 |"), "{lost}");
        assert!(lost.ends_with("≤ 0 | yes |"), "{lost}");
        assert!(
            table.contains(
                "| Socket.IO 4 | kill -9, restart | 19500 | 1950 × 1 | 2.50 s | 1.50 s (77 µs a \
                 client) |"
            ),
            "{table}"
        );
        assert!(table.contains("| **5400** |"), "{table}");
    }

    #[test]
    fn the_cluster_table_gives_medians_ranges_and_the_socket_io_ratio() {
        let runs = |kind, rates: [f64; 3]| {
            rates.map(|per_second| {
                let mut results = ServerResults::new(kind);
                let mut fan_out = fan_out(per_second);
                fan_out.members_per_node = vec![10, 45, 45];
                results.cluster_fan_out = Some(fan_out);
                results
            })
        };
        let tether = runs(ServerKind::Tether, [3.0e6, 2.5e6, 2.8e6]);
        let socket_io = runs(ServerKind::SocketIo, [200e3, 250e3, 150e3]);
        let table = cluster_table(
            &ClusterBench::default(),
            &report().versions,
            &[
                (ServerKind::Tether, tether.iter().collect()),
                (ServerKind::SocketIo, socket_io.iter().collect()),
            ],
        );
        assert!(table.contains("median of 3 runs"), "{table}");
        let row = table
            .lines()
            .find(|line| line.starts_with("| Fan-out across 3 nodes"))
            .unwrap_or_else(|| panic!("no fan-out row in\n{table}"));
        assert!(
            row.ends_with(
                "| 2.80 M/s (2.50 M/s–3.00 M/s) | 200 k/s (150 k/s–250 k/s) | 14.0× | ≥ 10× \
                 Socket.IO | yes |"
            ),
            "{row}"
        );
        let lost = table
            .lines()
            .find(|line| line.starts_with("| Deliveries lost"))
            .expect("a lost row");
        assert!(lost.ends_with("| 0 | 0 | — | ≤ 0 | yes |"), "{lost}");
        assert!(
            !table.contains("| Idle"),
            "no idle run, no idle row:\n{table}"
        );
    }

    #[test]
    fn missing_figures_show_as_dashes() {
        let row = row("Join storm");
        assert!(row.contains("| — | — |"), "{row}");
    }
}
