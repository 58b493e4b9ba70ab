//! The servers under test, each run as a child process on a loopback port.

use crate::{Dialect, Endpoint};
use anyhow::{Context, Result, bail};
use nix::{sys::signal::Signal, unistd::Pid};
use serde::Serialize;
use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::PathBuf,
    process::Stdio,
    time::Duration,
};
use tokio::{
    net::TcpStream,
    process::{Child, Command},
    time::Instant,
};

/// How long a server may take to listen, or to exit after SIGTERM.
const START_TIMEOUT: Duration = Duration::from_secs(15);
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A server the generator can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerKind {
    /// `tether-server`, release build.
    Tether,
    /// The guide's Node `ws` chat server (`bench/peers/guide-ws-server.js`).
    GuideNode,
    /// A Socket.IO 4 server with the same rooms (`bench/peers/socketio-server.js`).
    SocketIo,
}

impl ServerKind {
    /// Every server, Tether first.
    pub const ALL: [ServerKind; 3] = [Self::Tether, Self::GuideNode, Self::SocketIo];

    /// The name used on the command line and in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tether => "tether",
            Self::GuideNode => "guide-node",
            Self::SocketIo => "socketio",
        }
    }

    /// The name used in tables and charts.
    pub fn title(self) -> &'static str {
        match self {
            Self::Tether => "Tether",
            Self::GuideNode => "guide's Node ws",
            Self::SocketIo => "Socket.IO 4",
        }
    }

    /// Parses [`name`](Self::name).
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .with_context(|| format!("unknown server {name:?}: tether, guide-node or socketio"))
    }

    /// The protocol it speaks.
    pub fn dialect(self) -> Dialect {
        match self {
            Self::Tether | Self::GuideNode => Dialect::Guide,
            Self::SocketIo => Dialect::SocketIo,
        }
    }

    /// The WebSocket URL's path: the guide's server accepts any.
    fn path(self) -> &'static str {
        match self {
            Self::Tether => "/ws",
            Self::GuideNode => "/",
            Self::SocketIo => "/socket.io/?EIO=4&transport=websocket",
        }
    }
}

/// Where the servers' programs are.
#[derive(Debug, Clone)]
pub struct Programs {
    /// The `tether-server` binary.
    pub tether: PathBuf,
    /// The folder with the Node peers and their `node_modules`.
    pub peers: PathBuf,
    /// The `node` executable.
    pub node: PathBuf,
    /// The `redis-server` executable, for the cluster scenarios.
    pub redis: PathBuf,
}

impl Default for Programs {
    /// `tether-server` next to this executable, the peers in the repository's `bench/peers`,
    /// `node` and `redis-server` from `PATH`.
    fn default() -> Self {
        let tether = std::env::current_exe()
            .map(|exe| exe.with_file_name("tether-server"))
            .unwrap_or_else(|_| PathBuf::from("tether-server"));
        Self {
            tether,
            peers: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/peers")),
            node: PathBuf::from("node"),
            redis: PathBuf::from("redis-server"),
        }
    }
}

/// Which of Tether's limits a started `tether-server` enforces. The Node peers have none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Limits {
    /// The per-connection rate limits and the per-address connection limit off: the generator
    /// sends far faster than people, from 8 addresses, and the peers have no limits either. For
    /// throughput, latency and memory (the suite's comparisons).
    #[default]
    Off,
    /// Tether's own defaults, as a deployment runs it, with `flags` added (such as
    /// `--message-rate 0` to look at one bound without another): for the attacks and floods.
    Defaults {
        /// Extra command-line flags.
        flags: Vec<String>,
    },
}

impl Limits {
    /// Tether's defaults and no other flag.
    pub fn defaults() -> Self {
        Self::Defaults { flags: Vec::new() }
    }

    /// Tether's defaults with `flags` added.
    pub fn defaults_with(flags: &[&str]) -> Self {
        Self::Defaults {
            flags: flags.iter().map(|&flag| flag.to_owned()).collect(),
        }
    }

    /// The `tether-server` flags these limits take.
    fn args(&self) -> Vec<String> {
        match self {
            Self::Off => [
                "--message-rate",
                "0",
                "--address-message-rate",
                "0",
                "--address-text-byte-rate",
                "0",
                "--address-connect-rate",
                "0",
                "--join-rate",
                "0",
                "--typing-rate",
                "0",
                "--max-connections-per-ip",
                "0",
            ]
            .map(str::to_owned)
            .to_vec(),
            Self::Defaults { flags } => flags.clone(),
        }
    }
}

/// How a server is started, beyond its kind: Tether's limits and any flags of its own, whether
/// Socket.IO runs with connection-state recovery, the Redis it shares with other nodes, the CPUs
/// it may run on. [`Launch::default`] is what the comparisons run: Tether with its limits off and
/// its default store (SQLite), Socket.IO without recovery (its default), one node, any CPU.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Launch {
    limits: Limits,
    tether_flags: Vec<String>,
    socket_io_recovery: bool,
    redis: Option<String>,
    cpus: Option<String>,
}

impl Launch {
    /// Tether's limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// More `tether-server` flags, such as `--store memory`.
    pub fn tether_flags(mut self, flags: &[&str]) -> Self {
        self.tether_flags
            .extend(flags.iter().map(|&flag| flag.to_owned()));
        self
    }

    /// Socket.IO with `connectionStateRecovery` on (`bench/peers/socketio-server.js` reads
    /// `SOCKETIO_RECOVERY=1`): a client that comes back within two minutes gets its id, its rooms
    /// and the broadcasts it missed, from the server's memory.
    pub fn socket_io_recovery(mut self, on: bool) -> Self {
        self.socket_io_recovery = on;
        self
    }

    /// One node of several on the Redis at `url` (`redis://127.0.0.1:PORT/`): Tether with
    /// `--redis`, Socket.IO with `@socket.io/redis-adapter` (`bench/peers/socketio-server.js`
    /// reads `SOCKETIO_REDIS_URL`).
    pub fn redis(mut self, url: impl Into<String>) -> Self {
        self.redis = Some(url.into());
        self
    }

    /// Runs the server on these CPUs only (`taskset -c LIST`, such as `2-3`): on a machine with
    /// cores to spare, each node gets its own, apart from Redis's and the generator's.
    pub fn cpus(mut self, list: impl Into<String>) -> Self {
        self.cpus = Some(list.into());
        self
    }

    /// The `tether-server` flags this launch adds to the address and folders.
    fn tether_args(&self) -> Vec<String> {
        let mut args = self.limits.args();
        args.extend(self.tether_flags.iter().cloned());
        if let Some(url) = &self.redis {
            args.extend(["--redis".to_owned(), url.clone()]);
        }
        args
    }

    /// A command that runs `program`, on [`cpus`](Self::cpus) when set.
    fn command(&self, program: &std::path::Path) -> Command {
        match &self.cpus {
            Some(list) => {
                // taskset execs the program: the child's pid is the server's.
                let mut command = Command::new("taskset");
                command.arg("-c").arg(list).arg(program);
                command
            }
            None => Command::new(program),
        }
    }
}

/// A running server: a child process killed if this is dropped.
#[derive(Debug)]
pub struct ServerProcess {
    kind: ServerKind,
    programs: Programs,
    launch: Launch,
    port: u16,
    child: Child,
    // Tether's `--data-dir`, its own for each process started here (kept across a restart), so
    // that no run reads the history another left, and nothing is written into the repository.
    data_dir: PathBuf,
}

impl ServerProcess {
    /// Starts `kind` on a free loopback port and waits until it accepts connections; Tether with
    /// its limits [`Off`](Limits::Off).
    pub async fn start(kind: ServerKind, programs: &Programs) -> Result<Self> {
        Self::start_with(kind, programs, Launch::default()).await
    }

    /// Starts `tether-server` with `limits` on a free loopback port.
    pub async fn start_tether(programs: &Programs, limits: Limits) -> Result<Self> {
        Self::start_with(
            ServerKind::Tether,
            programs,
            Launch::default().limits(limits),
        )
        .await
    }

    /// Starts `kind` as `launch` says, on a free loopback port.
    pub async fn start_with(kind: ServerKind, programs: &Programs, launch: Launch) -> Result<Self> {
        anyhow::ensure!(
            launch.redis.is_none() || kind != ServerKind::GuideNode,
            "the guide's Node server cannot run as several nodes"
        );
        let port = free_port()?;
        let data_dir =
            std::env::temp_dir().join(format!("tether-bench-{}-{port}", std::process::id()));
        // Left over from an earlier run that was killed, if anything.
        let _ = std::fs::remove_dir_all(&data_dir);
        let child = spawn(kind, programs, &launch, port, &data_dir).await?;
        Ok(Self {
            kind,
            programs: programs.clone(),
            launch,
            port,
            child,
            data_dir,
        })
    }

    /// Which server this is.
    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    /// The process id, for `/proc`.
    pub fn pid(&self) -> Result<u32> {
        self.child.id().context("the server has exited")
    }

    /// The server's address: its `/metrics` and its raw TCP port.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Where to connect.
    pub fn endpoint(&self) -> Result<Endpoint> {
        Endpoint::new(
            &format!("ws://127.0.0.1:{}{}", self.port, self.kind.path()),
            self.kind.dialect(),
        )
    }

    /// Stops the server (SIGTERM, as a deploy would) and starts it again on the same port;
    /// returns once the new process accepts connections.
    pub async fn restart(&mut self) -> Result<()> {
        terminate(&mut self.child).await?;
        self.spawn_again().await
    }

    /// Kills the server with SIGKILL (`kill -9`: no shutdown, nothing flushed, connections
    /// dropped by the kernel) and starts it again on the same port and, for Tether, the same
    /// data folder; returns once the new process accepts connections.
    pub async fn crash_and_restart(&mut self) -> Result<()> {
        self.child.start_kill().context("killing the server")?;
        self.child
            .wait()
            .await
            .context("waiting for the killed server")?;
        self.spawn_again().await
    }

    async fn spawn_again(&mut self) -> Result<()> {
        self.child = spawn(
            self.kind,
            &self.programs,
            &self.launch,
            self.port,
            &self.data_dir,
        )
        .await?;
        Ok(())
    }

    /// Stops the server with SIGTERM and waits for it to exit.
    pub async fn stop(mut self) -> Result<()> {
        terminate(&mut self.child).await
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // The child is killed after this (`kill_on_drop`); removing its folder first is fine on
        // Linux, and nothing of it is needed afterwards.
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// A port that was free a moment ago. The server binds it right after; on loopback, with nothing
/// else picking ports, the race is theoretical.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

async fn spawn(
    kind: ServerKind,
    programs: &Programs,
    launch: &Launch,
    port: u16,
    data_dir: &std::path::Path,
) -> Result<Child> {
    let mut command = match kind {
        ServerKind::Tether => {
            let mut command = launch.command(&programs.tether);
            command
                .arg("--addr")
                .arg(format!("127.0.0.1:{port}"))
                // No static files: only the WebSocket is measured.
                .arg("--static-dir")
                .arg("/nonexistent")
                .arg("--data-dir")
                .arg(data_dir)
                // Off for the comparisons, the defaults for the attacks (BENCHMARKS.md).
                .args(launch.tether_args())
                // As the Node servers: no log line per connection.
                .env("RUST_LOG", "warn");
            command
        }
        ServerKind::GuideNode | ServerKind::SocketIo => {
            let script = match kind {
                ServerKind::GuideNode => "guide-ws-server.js",
                _ => "socketio-server.js",
            };
            let mut command = launch.command(&programs.node);
            command
                .arg(programs.peers.join(script))
                .arg(port.to_string())
                .current_dir(&programs.peers);
            if launch.socket_io_recovery {
                command.env("SOCKETIO_RECOVERY", "1");
            }
            if let (Some(url), ServerKind::SocketIo) = (&launch.redis, kind) {
                command.env("SOCKETIO_REDIS_URL", url);
            }
            command
        }
    };
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {} ({:?})", kind.title(), command.as_std()))?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("{} exited at start: {status}", kind.title());
        }
        if TcpStream::connect(addr).await.is_ok() {
            return Ok(child);
        }
        if Instant::now() > deadline {
            bail!(
                "{} did not listen on {addr} within {START_TIMEOUT:?}",
                kind.title()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// SIGTERM, then SIGKILL if the process outlives [`STOP_TIMEOUT`].
async fn terminate(child: &mut Child) -> Result<()> {
    let Some(pid) = child.id() else {
        return Ok(());
    };
    let pid = Pid::from_raw(i32::try_from(pid).context("pid out of range")?);
    nix::sys::signal::kill(pid, Signal::SIGTERM).context("sending SIGTERM")?;
    if tokio::time::timeout(STOP_TIMEOUT, child.wait())
        .await
        .is_err()
    {
        child.kill().await.context("killing the server")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_comparisons_turn_the_limits_off_and_the_attacks_keep_the_defaults() {
        let off = Limits::Off.args();
        for pair in off.chunks(2) {
            assert!(pair[0].starts_with("--") && pair[1] == "0", "{off:?}");
        }
        let off = off.join(" ");
        assert!(off.contains("--message-rate 0"), "{off}");
        assert!(off.contains("--max-connections-per-ip 0"), "{off}");
        assert!(Limits::defaults().args().is_empty());
        let node = Launch::default()
            .redis("redis://127.0.0.1:1/")
            .tether_args();
        assert!(
            node.join(" ").ends_with("--redis redis://127.0.0.1:1/"),
            "{node:?}"
        );
        assert_eq!(
            Limits::defaults_with(&["--message-rate", "0"]).args(),
            ["--message-rate", "0"]
        );
    }
}
