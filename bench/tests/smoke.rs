//! Every scenario, small, against the real Tether server running in this process on port 0
//! (two of them on a real `redis-server` for the cluster fan-out). The Node peers, `kill -9` of a
//! real `tether-server` process and the cluster scenarios' own processes are exercised by
//! `scripts/bench.sh --quick`, which the test command runs.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};
use tether_bench::{
    Dialect, Endpoint, FanOut, Fault, Idle, JoinStorm, Pace, Placement, ReconnectStorm,
    RedisProcess, ResumeStorm, ResumeStormResult,
};
use tether_server::{Config, config::StoreKind};
use tokio::{sync::oneshot, task::JoinHandle};

/// A Tether server on 127.0.0.1 that can be stopped and started again on the same port.
struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// History in memory: several such servers can run at once.
    async fn start(addr: SocketAddr) -> Self {
        Self::start_with(addr, Config::default().store(StoreKind::Memory)).await
    }

    /// History in SQLite in `folder`, which one server at a time may use.
    async fn start_sqlite(addr: SocketAddr, folder: &Path) -> Self {
        let config = Config::default().store(StoreKind::Sqlite).data_dir(folder);
        Self::start_with(addr, config).await
    }

    async fn start_with(addr: SocketAddr, config: Config) -> Self {
        // `bind` sets SO_REUSEADDR, so a restart can take the port back at once.
        let listener = tether_server::bind(addr, 1024).expect("bind");
        let addr = listener.local_addr().expect("address");
        let config = config
            .unlimited_rates()
            .max_connections_per_ip(0)
            .static_dir("/nonexistent/tether-bench-test")
            .shutdown_grace(Duration::from_secs(2));
        let (stop, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(tether_server::run(listener, config, async move {
            let _ = signal.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server ran");
        }
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint::new(&format!("ws://{}/ws", self.addr), Dialect::Guide).expect("endpoint")
    }
}

async fn server() -> Server {
    Server::start("127.0.0.1:0".parse().expect("address")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_fan_out_delivers_every_message_to_every_other_member() {
    let mut server = server().await;
    // The server runs in this process: its CPU time is this process's.
    let result = FanOut::new(10, 3, Pace::ClosedLoop { window: 8 })
        .warmup(Duration::from_millis(200))
        .measure(Duration::from_secs(1))
        .server_pid(std::process::id())
        .run(&server.endpoint(), "test")
        .await
        .expect("fan-out");
    assert!(result.sent > 0, "{result:?}");
    assert!(result.delivered > 0, "{result:?}");
    assert_eq!(result.lost, 0, "{result:?}");
    assert_eq!(
        result.latency.samples, result.delivered,
        "one latency per delivery in the window"
    );
    assert!(result.latency.p50_ms <= result.latency.p99_ms);
    // A second of closed-loop traffic keeps this process busy; both readings saw it.
    let server_cpu = result.server_cpu_seconds.expect("the server's CPU time");
    assert!(server_cpu > 0.0, "{result:?}");
    assert!(result.generator_cpu_seconds > 0.0, "{result:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_spread_over_two_nodes_on_redis_gets_every_message() {
    let redis = RedisProcess::start(Path::new("redis-server"), None)
        .await
        .expect("redis-server (scripts/setup.sh test installs it)");
    let address = "127.0.0.1:0".parse().expect("address");
    let config = || Config::default().redis(redis.url());
    let mut senders = Server::start_with(address, config()).await;
    let mut members = Server::start_with(address, config()).await;
    let placement =
        Placement::senders_apart(senders.endpoint(), vec![members.endpoint()]).expect("placement");
    let result = FanOut::new(12, 3, Pace::ClosedLoop { window: 8 })
        .warmup(Duration::from_millis(200))
        .measure(Duration::from_secs(1))
        .run_placed(&placement, "test")
        .await
        .expect("fan-out across nodes");
    assert_eq!(result.members_per_node, [3, 9]);
    assert!(result.delivered > 0, "{result:?}");
    assert_eq!(result.lost, 0, "{result:?}");
    senders.stop().await;
    members.stop().await;
    redis.stop().await.expect("redis stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_rate_senders_send_at_their_rate() {
    let mut server = server().await;
    let result = FanOut::new(20, 2, Pace::Rate { per_second: 40.0 })
        .warmup(Duration::from_millis(500))
        .measure(Duration::from_secs(1))
        .run(&server.endpoint(), "test")
        .await
        .expect("fan-out");
    // 2 senders × 40/s × 1.5 s = 120, give or take the clock's first tick and scheduling.
    assert!((90..=130).contains(&result.sent), "{result:?}");
    assert_eq!(result.lost, 0, "{result:?}");
    // About 2 × 40 × 19 deliveries in the measured second.
    assert!((1100..=1800).contains(&result.delivered), "{result:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_holds_every_connection_and_reads_the_servers_memory() {
    let mut server = server().await;
    let result = Idle::new(300)
        .room_size(7)
        .settle(Duration::from_millis(200))
        .run(&server.endpoint(), std::process::id(), "test")
        .await
        .expect("idle");
    assert_eq!(result.connections, 300);
    assert!(result.after.rss_kib > 0);
    assert!(result.rss_bytes_per_connection.is_finite());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_storm_waits_for_every_client_in_one_room() {
    let mut server = server().await;
    let result = JoinStorm::new(150)
        .run(&server.endpoint(), "test")
        .await
        .expect("join storm");
    assert_eq!(result.clients, 150);
    assert!(result.p50_ms <= result.p99_ms && result.p99_ms <= result.total_ms);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_storm_brings_every_client_back_after_a_restart() {
    let mut server = server().await;
    let endpoint = server.endpoint();
    let addr = server.addr;
    let restart = async || {
        server.stop().await;
        server = Server::start(addr).await;
        anyhow::Ok(())
    };
    let result = ReconnectStorm::new(200)
        .room_size(10)
        .concurrency(50)
        .run(&endpoint, restart, "test")
        .await
        .expect("reconnect storm");
    assert_eq!(result.clients, 200);
    assert!(result.seconds > 0.0);
    server.stop().await;
}

/// Small, quick resume storms: two publishers per room at 20 messages/s.
fn resume_storm(clients: usize) -> ResumeStorm {
    ResumeStorm::new(clients)
        .publishers_per_room(2)
        .rate(20.0)
        .before(Duration::from_millis(400))
        .after(Duration::from_millis(400))
        .settle(Duration::from_millis(300))
        .concurrency(50)
}

/// Every client got every message of its room once, by message and by position.
fn assert_nothing_lost_or_duplicated(result: &ResumeStormResult) {
    assert!(result.published > 0, "{result:?}");
    assert!(result.expected > 0, "{result:?}");
    assert_eq!(result.lost, 0, "{result:?}");
    assert_eq!(result.duplicated, 0, "{result:?}");
    assert_eq!(result.seq_gaps, Some(0), "{result:?}");
    assert_eq!(result.seq_repeats, Some(0), "{result:?}");
    assert_eq!(result.not_recovered, 0, "{result:?}");
    assert_eq!(result.new_identity, 0, "{result:?}");
    assert_eq!(result.store_top_mismatches, Some(0), "{result:?}");
    assert_eq!(result.refused, 0, "{result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_storm_after_dropped_connections_loses_and_repeats_nothing() {
    let mut server = server().await;
    let never = async || anyhow::bail!("the server is not restarted for a drop");
    let result = resume_storm(100)
        .run(
            &server.endpoint(),
            std::process::id(),
            Fault::Drop,
            never,
            "test",
        )
        .await
        .expect("resume storm");
    assert_eq!(result.clients, 100);
    assert_nothing_lost_or_duplicated(&result);
    // Each publisher's last message left as its connection was reset: sent again after.
    assert!(result.resent >= 20, "{result:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_storm_across_a_restart_on_the_same_sqlite_folder_recovers_everything() {
    let folder = temp_folder("resume");
    let mut server = Server::start_sqlite("127.0.0.1:0".parse().expect("address"), &folder).await;
    let endpoint = server.endpoint();
    let addr = server.addr;
    let restart = async || {
        server.stop().await;
        server = Server::start_sqlite(addr, &folder).await;
        anyhow::Ok(std::process::id())
    };
    let result = resume_storm(100)
        .run(&endpoint, std::process::id(), Fault::Kill, restart, "test")
        .await
        .expect("resume storm");
    assert_nothing_lost_or_duplicated(&result);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&folder);
}

/// A fresh folder under the system's temporary folder, for one test.
fn temp_folder(name: &str) -> PathBuf {
    let folder = std::env::temp_dir().join(format!("tether-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&folder);
    folder
}
