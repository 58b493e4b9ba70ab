//! A `redis-server` of the generator's own, for the cluster scenarios.

use anyhow::{Context, Result, bail};
use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    process::{Child, Command},
    time::Instant,
};

/// How long Redis may take to answer its first `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A `redis-server` on a free loopback port (never 6379), its files in a folder of its own that
/// is removed when it stops. It runs as the cluster's Redis would in a deployment
/// (`scripts/cluster.sh`): the append-only file on with its default fsync once a second, no RDB
/// snapshots. Killed if this is dropped.
#[derive(Debug)]
pub struct RedisProcess {
    port: u16,
    child: Child,
    dir: PathBuf,
}

impl RedisProcess {
    /// Starts `program` (`redis-server`), on `cpus` only when given (`taskset -c LIST`), and waits
    /// until it answers `PING`.
    pub async fn start(program: &Path, cpus: Option<&str>) -> Result<Self> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .context("finding a free port")?
            .port();
        let dir =
            std::env::temp_dir().join(format!("tether-bench-redis-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut command = match cpus {
            Some(list) => {
                let mut command = Command::new("taskset");
                command.arg("-c").arg(list).arg(program);
                command
            }
            None => Command::new(program),
        };
        command
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
            ])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let child = command.spawn().with_context(|| {
            format!(
                "starting {} (scripts/setup.sh test installs redis-server)",
                program.display()
            )
        })?;
        let mut redis = Self { port, child, dir };
        let deadline = Instant::now() + START_TIMEOUT;
        while !redis.pings().await {
            if let Some(status) = redis.child.try_wait()? {
                bail!("redis-server exited at start: {status}");
            }
            if Instant::now() > deadline {
                bail!("redis-server did not answer on port {port} within {START_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(redis)
    }

    /// The URL the nodes are given.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The process id, for `/proc`.
    pub fn pid(&self) -> Result<u32> {
        self.child.id().context("redis-server has exited")
    }

    /// Whether Redis answers `PING` with `PONG` (in its inline protocol).
    async fn pings(&self) -> bool {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let answer = async {
            let mut stream = TcpStream::connect(addr).await?;
            stream.write_all(b"PING\r\n").await?;
            let mut reply = [0; 7];
            stream.read_exact(&mut reply).await?;
            std::io::Result::Ok(&reply == b"+PONG\r\n")
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(1), answer).await,
            Ok(Ok(true))
        )
    }

    /// Stops Redis (SIGKILL: nothing of it is kept) and removes its folder.
    pub async fn stop(mut self) -> Result<()> {
        self.child.kill().await.context("stopping redis-server")
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        // The child is killed after this (`kill_on_drop`); its files are not needed after.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
