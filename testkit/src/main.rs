//! `tether-supervisor`: runs the real `tether-server` as a child process and kills or restarts it
//! when a test asks, over a small HTTP control API, and puts a [`FaultProxy`] in front of it.
//! Browser tests cannot kill a process or make the server misbehave themselves; they `fetch`
//! this, and open their WebSocket through the proxy, instead.
//!
//! ```text
//! tether-supervisor --server target/debug/tether-server --ready-file /tmp/tether.env
//! ```
//!
//! It picks a free port for the server and one for the proxy (both kept across restarts), starts
//! the server with the arguments after `--`, waits until it accepts connections, and writes
//! `TETHER_TEST_URL=ws://…/ws` (the server), `TETHER_TEST_FAULT_URL=ws://…/ws` (the proxy: add
//! `?fault=mute`, `?fault=close&code=N` or `?fault=echo`, or nothing for a plain pass-through)
//! and `TETHER_TEST_CONTROL=http://…` to the ready file. Control API (CORS open, loopback only):
//!
//! - `POST /kill`: SIGKILL the server (clients see their connections drop: close 1006; new
//!   connections through the proxy fail as they would to the dead server).
//! - `POST /start`: start it again on the same port; answers once it is ready.
//! - `POST /restart?down_ms=N`: kill, answer at once, start again N ms later.
//! - `GET /status`: `up` or `down`.
//!
//! It stops (killing the server) on SIGINT/SIGTERM, or after `--max-lifetime` (default 30 min) so a
//! forgotten one never outlives a test run.

use anyhow::{Context, bail};
use axum::{
    Router,
    extract::{Query, State},
    routing::{get, post},
};
use clap::Parser;
use serde::Deserialize;
use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};
use tether_testkit::FaultProxy;
use tokio::{
    net::TcpListener,
    process::Child,
    sync::{Mutex, oneshot},
};
use tower_http::cors::CorsLayer;

#[derive(Debug, Parser)]
struct Args {
    /// The tether-server binary.
    #[arg(long)]
    server: PathBuf,
    /// Where to write the URLs once the server is ready.
    #[arg(long)]
    ready_file: PathBuf,
    /// Stop after this long whatever happens, e.g. `30m`.
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    max_lifetime: Duration,
    /// Arguments for the server (after `--`).
    #[arg(last = true)]
    server_args: Vec<String>,
}

/// The server child process and how to start it again.
struct Supervised {
    server: PathBuf,
    addr: SocketAddr,
    args: Vec<String>,
    child: Option<Child>,
}

impl Supervised {
    async fn start(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let child = tokio::process::Command::new(&self.server)
            .arg("--addr")
            .arg(self.addr.to_string())
            .args(&self.args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.server.display()))?;
        self.child = Some(child);
        // Ready once it accepts connections.
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        bail!("server did not start listening on {}", self.addr)
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

type Shared = Arc<Mutex<Supervised>>;

#[derive(Deserialize)]
struct RestartQuery {
    #[serde(default)]
    down_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    // A free port for the server, released at once and reused for every restart.
    let addr = TcpListener::bind("127.0.0.1:0").await?.local_addr()?;
    let supervised: Shared = Arc::new(Mutex::new(Supervised {
        server: args.server,
        addr,
        args: args.server_args,
        child: None,
    }));
    supervised.lock().await.start().await?;

    // The proxy outlives the server's restarts: it connects anew for each client, so a client
    // that arrives while the server is down fails as it would without the proxy.
    let proxy = TcpListener::bind("127.0.0.1:0").await?;
    let proxy_addr = proxy.local_addr()?;
    let (stop_proxy, proxy_stopped) = oneshot::channel::<()>();
    let proxy = tokio::spawn(FaultProxy::new(proxy, addr).run(async move {
        let _ = proxy_stopped.await;
    }));

    let control = TcpListener::bind("127.0.0.1:0").await?;
    let control_addr = control.local_addr()?;
    std::fs::write(
        &args.ready_file,
        format!(
            "TETHER_TEST_URL=ws://{addr}/ws\nTETHER_TEST_FAULT_URL=ws://{proxy_addr}/ws\n\
             TETHER_TEST_CONTROL=http://{control_addr}\n"
        ),
    )?;
    tracing::info!(%addr, %proxy_addr, %control_addr, "supervising");

    let app = Router::new()
        .route("/kill", post(kill))
        .route("/start", post(start))
        .route("/restart", post(restart))
        .route("/status", get(status))
        .layer(CorsLayer::permissive())
        .with_state(Arc::clone(&supervised));
    let lifetime = args.max_lifetime;
    axum::serve(control, app)
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate() => {}
                () = tokio::time::sleep(lifetime) => tracing::warn!("max lifetime reached"),
            }
        })
        .await?;
    // The proxy has no graceful part: stopping it drops its connections, as the server's kill does.
    let _ = stop_proxy.send(());
    proxy.await.context("the fault proxy panicked")?;
    supervised.lock().await.kill().await;
    Ok(())
}

async fn terminate() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

async fn kill(State(s): State<Shared>) -> &'static str {
    s.lock().await.kill().await;
    "killed\n"
}

async fn start(State(s): State<Shared>) -> Result<&'static str, String> {
    s.lock().await.start().await.map_err(|e| e.to_string())?;
    Ok("started\n")
}

async fn restart(State(s): State<Shared>, Query(q): Query<RestartQuery>) -> &'static str {
    s.lock().await.kill().await;
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(q.down_ms)).await;
        if let Err(err) = s.lock().await.start().await {
            tracing::error!(%err, "restart failed");
        }
    });
    "restarting\n"
}

async fn status(State(s): State<Shared>) -> &'static str {
    if s.lock().await.child.is_some() {
        "up\n"
    } else {
        "down\n"
    }
}
