//! The cluster scenarios: one room served by several nodes on one Redis (Tether with `--redis`,
//! Socket.IO with `@socket.io/redis-adapter`), each node a process of its own, every run on a
//! fresh Redis and fresh nodes.

use crate::{
    Cluster, FanOut, FanOutResult, Idle, IdleResult, Launch, Pace, Placement, ServerKind,
    cluster::Cpus, server_process::Programs,
};
use anyhow::{Result, ensure};
use serde::Serialize;
use std::time::Duration;

/// The cluster scenarios' sizes and durations; [`ClusterBench::default`] is the full run,
/// [`ClusterBench::quick`] a smoke run.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterBench {
    /// Fan-out: nodes; the senders on the first, the other members round-robin on the rest.
    pub fan_out_nodes: usize,
    /// Fan-out (and the throughput-by-nodes curve): members in the room.
    pub fan_out_members: usize,
    /// Fan-out: how many of them send.
    pub fan_out_senders: usize,
    /// Fan-out: closed-loop window per sender.
    pub fan_out_window: usize,
    /// Latency: members in the room.
    pub latency_members: usize,
    /// Latency: messages per second from the one sender.
    pub latency_rate: f64,
    /// Idle connections on one node.
    pub idle_connections: usize,
    /// The throughput-by-nodes curve: how many nodes at each point, every member (senders
    /// included) round-robin over them.
    pub node_counts: Vec<usize>,
    /// Fan-out and latency: how long to warm up.
    #[serde(skip)]
    pub warmup: Duration,
    /// Fan-out and latency: how long to measure.
    #[serde(skip)]
    pub measure: Duration,
    /// Idle: how long the node settles before its memory is read.
    #[serde(skip)]
    pub idle_settle: Duration,
    /// Where Redis and the nodes run.
    #[serde(skip)]
    pub cpus: Cpus,
}

/// The latency scenario's three runs, each on fresh processes: the same room and sender, the
/// members with the sender on one server without Redis, with the sender on one node with Redis,
/// and on a second node (the sender alone on the first).
#[derive(Debug, Clone, Serialize)]
pub struct ClusterLatency {
    /// One server, no Redis: Tether with its default store (SQLite), Socket.IO with its
    /// in-memory adapter.
    pub without_redis: FanOutResult,
    /// One node on Redis, sender and members on it.
    pub one_node: FanOutResult,
    /// Two nodes on Redis: the sender on the first, every member on the second.
    pub second_node: FanOutResult,
}

impl ClusterLatency {
    /// The p99 the second node adds to one node on the same Redis, in milliseconds.
    pub fn added_p99_ms(&self) -> f64 {
        self.second_node.latency.p99_ms - self.one_node.latency.p99_ms
    }

    /// The p99 the second node adds to one server without Redis, in milliseconds.
    pub fn added_p99_without_redis_ms(&self) -> f64 {
        self.second_node.latency.p99_ms - self.without_redis.latency.p99_ms
    }

    /// Deliveries lost in the three runs.
    pub fn lost(&self) -> u64 {
        self.without_redis.lost + self.one_node.lost + self.second_node.lost
    }
}

impl Default for ClusterBench {
    /// The sizes: fan-out 100 × 10 (window 32) over 3 nodes, 1000 members at 50 msg/s,
    /// 19,500 idle connections, the curve at 1, 2 and 3 nodes.
    fn default() -> Self {
        Self {
            fan_out_nodes: 3,
            fan_out_members: 100,
            fan_out_senders: 10,
            fan_out_window: 32,
            latency_members: 1000,
            latency_rate: 50.0,
            idle_connections: 19_500,
            node_counts: vec![1, 2, 3],
            warmup: Duration::from_secs(2),
            measure: Duration::from_secs(10),
            idle_settle: Duration::from_secs(3),
            cpus: Cpus::default(),
        }
    }
}

impl ClusterBench {
    /// A smoke run: small rooms, half a second measured, the curve at 2 nodes only.
    pub fn quick() -> Self {
        Self {
            fan_out_members: 20,
            fan_out_senders: 4,
            fan_out_window: 16,
            latency_members: 30,
            idle_connections: 300,
            node_counts: vec![2],
            warmup: Duration::from_millis(200),
            measure: Duration::from_millis(500),
            idle_settle: Duration::from_millis(300),
            ..Self::default()
        }
    }

    /// How many runs, each on fresh processes, the latency scenario makes.
    pub const LATENCY_RUNS: usize = 3;

    fn closed_loop(&self) -> FanOut {
        FanOut::new(
            self.fan_out_members,
            self.fan_out_senders,
            Pace::ClosedLoop {
                window: self.fan_out_window,
            },
        )
        .warmup(self.warmup)
        .measure(self.measure)
    }

    /// Fan-out across nodes: the senders on the first node, the other members round-robin on
    /// the others, closed loop; CPU time of every node and of Redis.
    pub async fn fan_out(
        &self,
        kind: ServerKind,
        programs: &Programs,
        launch: &Launch,
        label: &str,
    ) -> Result<FanOutResult> {
        ensure!(
            self.fan_out_nodes >= 2,
            "the cluster fan-out needs a node for the senders and at least one for the members"
        );
        let cluster =
            Cluster::start(kind, programs, launch, self.fan_out_nodes, &self.cpus).await?;
        let result = async {
            let mut endpoints = cluster.endpoints()?;
            let members = endpoints.split_off(1);
            let placement = Placement::senders_apart(endpoints.remove(0), members)?;
            let mut run = self.closed_loop().server_pids(cluster.pids()?);
            if let Some(pid) = cluster.redis_pid()? {
                run = run.redis_pid(pid);
            }
            run.run_placed(&placement, label).await
        }
        .await;
        cluster.stop().await?;
        result
    }

    /// Latency at a fixed rate to a large room: one server without Redis, one node on Redis,
    /// and the members on a second node; each on fresh processes, back to back.
    pub async fn latency(
        &self,
        kind: ServerKind,
        programs: &Programs,
        launch: &Launch,
        label: &str,
    ) -> Result<ClusterLatency> {
        let run = FanOut::new(
            self.latency_members,
            1,
            Pace::Rate {
                per_second: self.latency_rate,
            },
        )
        .room("bench-latency")
        .warmup(self.warmup)
        .measure(self.measure);
        let without_redis = {
            let cluster = Cluster::alone(kind, programs, launch, &self.cpus).await?;
            let placement = Placement::one(cluster.endpoints()?.remove(0));
            let result = run
                .clone()
                .server_pids(cluster.pids()?)
                .run_placed(&placement, &format!("{label} · one node, no Redis"))
                .await;
            cluster.stop().await?;
            result?
        };
        let mut on_redis = Vec::with_capacity(2);
        for nodes in [1, 2] {
            let cluster = Cluster::start(kind, programs, launch, nodes, &self.cpus).await?;
            let result = async {
                let mut endpoints = cluster.endpoints()?;
                let placement = match nodes {
                    1 => Placement::one(endpoints.remove(0)),
                    _ => {
                        let members = endpoints.split_off(1);
                        Placement::senders_apart(endpoints.remove(0), members)?
                    }
                };
                let mut run = run.clone().server_pids(cluster.pids()?);
                if let Some(pid) = cluster.redis_pid()? {
                    run = run.redis_pid(pid);
                }
                let what = match nodes {
                    1 => "one node on Redis",
                    _ => "members on a second node",
                };
                run.run_placed(&placement, &format!("{label} · {what}"))
                    .await
            }
            .await;
            cluster.stop().await?;
            on_redis.push(result?);
        }
        let second_node = on_redis.pop().expect("two runs");
        let one_node = on_redis.pop().expect("two runs");
        Ok(ClusterLatency {
            without_redis,
            one_node,
            second_node,
        })
    }

    /// Idle connections in rooms of 10 on one node on Redis: the node's RSS per connection, and
    /// Redis's.
    pub async fn idle(
        &self,
        kind: ServerKind,
        programs: &Programs,
        launch: &Launch,
        label: &str,
    ) -> Result<IdleResult> {
        let cluster = Cluster::start(kind, programs, launch, 1, &self.cpus).await?;
        let result = async {
            let mut run = Idle::new(self.idle_connections).settle(self.idle_settle);
            if let Some(pid) = cluster.redis_pid()? {
                run = run.redis_pid(pid);
            }
            let endpoint = cluster.endpoints()?.remove(0);
            run.run(&endpoint, cluster.pids()?[0], label).await
        }
        .await;
        cluster.stop().await?;
        result
    }

    /// Closed-loop fan-out with every member, senders included, round-robin over 1, 2, …
    /// nodes ([`node_counts`](Self::node_counts)), each point on fresh processes.
    pub async fn nodes(
        &self,
        kind: ServerKind,
        programs: &Programs,
        launch: &Launch,
        label: &str,
    ) -> Result<Vec<FanOutResult>> {
        let mut points = Vec::with_capacity(self.node_counts.len());
        for &nodes in &self.node_counts {
            let cluster = Cluster::start(kind, programs, launch, nodes, &self.cpus).await?;
            let result = async {
                let placement = Placement::spread(cluster.endpoints()?)?;
                let mut run = self.closed_loop().server_pids(cluster.pids()?);
                if let Some(pid) = cluster.redis_pid()? {
                    run = run.redis_pid(pid);
                }
                run.run_placed(&placement, &format!("{label} · {nodes} nodes"))
                    .await
            }
            .await;
            cluster.stop().await?;
            points.push(result?);
        }
        Ok(points)
    }
}
