//! Several nodes of one server on one Redis, each a process of its own.

use crate::{Endpoint, Launch, RedisProcess, ServerKind, ServerProcess, server_process::Programs};
use anyhow::{Result, ensure};

/// Where the processes of a cluster may run: on a machine with cores to spare, Redis and each
/// node on CPUs of their own (`taskset -c`), the generator on the rest. Unset, everything shares
/// every CPU.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cpus {
    /// Redis's CPU list, such as `0`.
    pub redis: Option<String>,
    /// The nodes' CPU lists, such as `1-2`, `3-4`: node `i` gets entry `i`, round-robin.
    pub nodes: Vec<String>,
}

/// A Redis and `nodes` server processes on it (Tether with `--redis`, Socket.IO with
/// `@socket.io/redis-adapter`), or one server on its own, without Redis. Everything is stopped
/// by [`stop`](Self::stop), or killed if this is dropped.
#[derive(Debug)]
pub struct Cluster {
    redis: Option<RedisProcess>,
    nodes: Vec<ServerProcess>,
}

impl Cluster {
    /// Starts a fresh Redis and `nodes` nodes of `kind` on it, each as `launch` says (Tether's
    /// limits and flags).
    pub async fn start(
        kind: ServerKind,
        programs: &Programs,
        launch: &Launch,
        nodes: usize,
        cpus: &Cpus,
    ) -> Result<Self> {
        ensure!(nodes > 0, "a cluster needs at least one node");
        let redis = RedisProcess::start(&programs.redis, cpus.redis.as_deref()).await?;
        let mut cluster = Self {
            redis: None,
            nodes: Vec::with_capacity(nodes),
        };
        for node in 0..nodes {
            let mut launch = launch.clone().redis(redis.url());
            if !cpus.nodes.is_empty() {
                launch = launch.cpus(cpus.nodes[node % cpus.nodes.len()].clone());
            }
            cluster
                .nodes
                .push(ServerProcess::start_with(kind, programs, launch).await?);
        }
        cluster.redis = Some(redis);
        Ok(cluster)
    }

    /// One server of `kind` on its own: no Redis (Tether with its default store).
    pub async fn alone(
        kind: ServerKind,
        programs: &Programs,
        launch: &Launch,
        cpus: &Cpus,
    ) -> Result<Self> {
        let mut launch = launch.clone();
        if let Some(list) = cpus.nodes.first() {
            launch = launch.cpus(list.clone());
        }
        Ok(Self {
            redis: None,
            nodes: vec![ServerProcess::start_with(kind, programs, launch).await?],
        })
    }

    /// Each node's endpoint, in order.
    pub fn endpoints(&self) -> Result<Vec<Endpoint>> {
        self.nodes.iter().map(ServerProcess::endpoint).collect()
    }

    /// Each node's process id, in order.
    pub fn pids(&self) -> Result<Vec<u32>> {
        self.nodes.iter().map(ServerProcess::pid).collect()
    }

    /// Redis's process id, when the nodes share one.
    pub fn redis_pid(&self) -> Result<Option<u32>> {
        self.redis.as_ref().map(RedisProcess::pid).transpose()
    }

    /// Stops the nodes (SIGTERM), then Redis.
    pub async fn stop(self) -> Result<()> {
        for node in self.nodes {
            node.stop().await?;
        }
        if let Some(redis) = self.redis {
            redis.stop().await?;
        }
        Ok(())
    }
}
