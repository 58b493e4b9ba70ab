//! A `redis-server` of a test's own, on a free port (never 6379), killed and restarted by it.

use super::free_port;
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};
use tokio::time::{Instant, sleep};

/// A `redis-server` of the test's own, with its files in a temporary folder.
pub(crate) struct Redis {
    port: u16,
    dir: PathBuf,
    // With the append-only file, written on every command.
    persistent: bool,
    child: Option<Child>,
    _folder: tempfile::TempDir,
}

impl Redis {
    /// Starts Redis with the append-only file on (every write on disk before it answers).
    pub(crate) async fn start() -> Self {
        Self::start_with(true).await
    }

    /// Starts Redis keeping nothing on disk.
    pub(crate) async fn start_volatile() -> Self {
        Self::start_with(false).await
    }

    async fn start_with(persistent: bool) -> Self {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let mut redis = Self {
            port: free_port(),
            dir: folder.path().to_owned(),
            persistent,
            child: None,
            _folder: folder,
        };
        redis.restart().await;
        redis
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts it again (after [`kill`](Self::kill)) on the same port and folder.
    pub(crate) async fn restart(&mut self) {
        let appendonly = if self.persistent { "yes" } else { "no" };
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", appendonly])
            .args(["--appendfsync", "always"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/setup.sh test installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.cli(&["PING"]) != "PONG" {
            assert!(Instant::now() < deadline, "redis-server did not start");
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// `kill -9`.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops it (`SIGSTOP`) without closing anything, as a Redis that stalls; `resume` goes on.
    pub(crate) fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused Redis go on (`SIGCONT`).
    pub(crate) fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("Redis runs").id();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// What `redis-cli` prints for `args`, trimmed.
    pub(crate) fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output();
        output
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    }

    /// Its folder.
    pub(crate) fn data(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
