//! A suite run's results: JSON for machines, a markdown table for people.

use crate::{FanOutResult, IdleResult, JoinStormResult, ReconnectStormResult, ServerKind};
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
}

/// One server's results; a scenario that failed has `None` and a line in `failures`.
#[derive(Debug, Clone, Serialize)]
pub struct ServerResults {
    /// Which server.
    pub server: ServerKind,
    /// Closed-loop fan-out.
    pub fan_out: Option<FanOutResult>,
    /// Fixed-rate fan-out to a large room.
    pub latency: Option<FanOutResult>,
    /// Memory per idle connection.
    pub idle: Option<IdleResult>,
    /// Join storm.
    pub join_storm: Option<JoinStormResult>,
    /// Reconnect storm.
    pub reconnect_storm: Option<ReconnectStormResult>,
    /// Scenarios that failed, and why.
    pub failures: Vec<String>,
}

impl ServerResults {
    /// No results yet.
    pub fn new(server: ServerKind) -> Self {
        Self {
            server,
            fan_out: None,
            latency: None,
            idle: None,
            join_storm: None,
            reconnect_storm: None,
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
    /// At most this absolute figure.
    AtMost(f64),
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
                    "Fan-out, {} members × {} senders, closed loop: deliveries/s",
                    s.fan_out_members, s.fan_out_senders
                ),
                value: |r| r.fan_out.as_ref().map(|f| f.delivered_per_second),
                format: rate,
                higher_is_better: true,
                target: Some(Target::TimesNode(10.0)),
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
            let (target, met) = match row.target {
                Some(Target::TimesNode(times)) => (
                    format!("≥ {times:.0}× Node"),
                    match (tether, node) {
                        (Some(t), Some(n)) => yes_no(t >= times * n),
                        _ => "—".into(),
                    },
                ),
                Some(Target::AtMost(limit)) => (
                    format!("≤ {}", (row.format)(limit)),
                    tether.map_or("—".into(), |t| yes_no(t <= limit)),
                ),
                None => (String::new(), String::new()),
            };
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
        for server in &self.servers {
            for failure in &server.failures {
                let _ = writeln!(out, "\n- {} failed: {failure}", server.server.title());
            }
        }
        out
    }
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

fn micros(micros: f64) -> String {
    format!("{micros:.1} µs")
}

fn seconds(seconds: f64) -> String {
    format!("{seconds:.2} s")
}

fn bytes(bytes: f64) -> String {
    format!("{:.0} B", bytes)
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
            seconds: 10.0,
            sent: 1,
            delivered: (per_second * 10.0) as u64,
            delivered_per_second: per_second,
            lost: 0,
            latency: LatencySummary::default(),
            server_cpu_seconds: Some(4.0),
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
            },
            sizes: crate::suite::Suite::default().sizes,
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
    fn missing_figures_show_as_dashes() {
        let row = row("Join storm");
        assert!(row.contains("| — | — |"), "{row}");
    }
}
