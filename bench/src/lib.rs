//! `tether-bench`: a load generator that measures Tether's server side by side with the guide's
//! Node `ws` chat server and a Socket.IO 4 server with the same rooms.
//!
//! Every scenario opens real WebSocket connections over loopback with tokio-tungstenite, speaks
//! the server's protocol (the guide's `{"type", "payload"}` JSON, or Engine.IO v4 + Socket.IO
//! packets), is bounded in count and time, and stops by itself.
//!
//! ```no_run
//! use std::time::Duration;
//! use tether_bench::{Dialect, Endpoint, FanOut, Pace};
//!
//! # async fn example() -> anyhow::Result<()> {
//! // 100 members in one room; 10 of them send, each keeping at most 32 messages unseen.
//! let endpoint = Endpoint::new("ws://127.0.0.1:8080/ws", Dialect::Guide)?;
//! let result = FanOut::new(100, 10, Pace::ClosedLoop { window: 32 })
//!     .measure(Duration::from_secs(10))
//!     .run(&endpoint, "fan-out")
//!     .await?;
//! println!("{:.0} messages/s delivered, p99 {:.2} ms", result.delivered_per_second, result.latency.p99_ms);
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//! - Talking to a server: [`endpoint`] (a loopback URL and the source addresses connections
//!   come from), [`dialect`] (the guide's protocol or Socket.IO's, encoded and recognised
//!   without a full JSON parse on the hot path), [`bench_socket`] (one connection: handshake,
//!   join, receive, answer Engine.IO pings).
//! - The scenarios: [`fan_out`] (throughput and latency), [`idle`] (memory per connection),
//!   [`join_storm`], [`reconnect_storm`]; [`latency`] (HDR histograms), [`memory`] and
//!   [`cpu_time`] (`/proc`).
//! - History: [`resume_storm`] (clients lose the server, `kill -9`, or their connections, and
//!   must each get back every message of their room exactly once; `resume_client` is one
//!   client, resuming with Tether's `since` or Socket.IO's connection-state recovery),
//!   [`durable`] (acked, stored messages per second, per store).
//! - Several nodes on one Redis: [`cluster`] (a [`redis_process`] and the nodes on it: Tether
//!   with `--redis`, Socket.IO with `@socket.io/redis-adapter`), [`placement`] (which node each
//!   member of a room connects to), [`cluster_bench`] (fan-out across nodes, the latency a
//!   second node adds, idle memory on a node, throughput by number of nodes).
//! - Hardening, against Tether with its default limits: [`attack`] (ping flood, slowloris, idle
//!   flood, big headers, message flood: what each costs the server and what happens to the
//!   attacker), [`flood`] (ordinary members chatting with and without a [`flooder`] in their
//!   room); [`raw_client`] (bytes no client library would send), [`server_metrics`] (Tether's
//!   `/metrics`).
//! - Running them: [`server_process`] (starts, restarts and stops each server as a child
//!   process), [`suite`] (every scenario against every server), [`report`] (markdown and JSON),
//!   [`chart`] (the SVG chart), [`progress`] (what a long run prints while it works).
#![warn(missing_docs)]

pub mod attack;
pub mod bench_socket;
pub mod chart;
pub mod cluster;
pub mod cluster_bench;
pub mod cpu_time;
pub mod dialect;
pub mod durable;
pub mod endpoint;
pub mod fan_out;
pub mod flood;
pub mod flooder;
pub mod idle;
pub mod join_storm;
pub mod latency;
pub mod memory;
pub mod placement;
pub mod progress;
pub mod raw_client;
pub mod reconnect_storm;
pub mod redis_process;
pub mod report;
mod resume_client;
pub mod resume_storm;
pub mod server_metrics;
pub mod server_process;
pub mod suite;

pub use attack::{Attack, AttackResult, Attacks};
pub use bench_socket::BenchSocket;
pub use cluster::Cluster;
pub use cluster_bench::{ClusterBench, ClusterLatency};
pub use dialect::{Dialect, Incoming};
pub use durable::{Durable, DurableResult};
pub use endpoint::Endpoint;
pub use fan_out::{FanOut, FanOutResult, Pace};
pub use flood::{Flood, FloodResult, Flooding};
pub use flooder::{Flooder, FlooderFate};
pub use idle::{Idle, IdleResult};
pub use join_storm::{JoinStorm, JoinStormResult};
pub use latency::{LatencyRecorder, LatencySummary};
pub use memory::Memory;
pub use placement::Placement;
pub use reconnect_storm::{ReconnectStorm, ReconnectStormResult};
pub use redis_process::RedisProcess;
pub use resume_storm::{Fault, ResumeStorm, ResumeStormResult};
pub use server_metrics::ServerMetrics;
pub use server_process::{Launch, Limits, ServerKind, ServerProcess};
