//! The Tether server binary.
//!
//! ```text
//! cargo run --release -p tether-server            # http://127.0.0.1:8080, WebSocket on /ws
//! cargo run --release -p tether-server -- --help  # every flag and its environment variable
//! ```
//!
//! Logs go to stderr; `RUST_LOG` filters them (default `info`).

use anyhow::Context;
use clap::Parser;
use tether_server::{Config, bind, open_node, run_with};
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    match serve() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // One line, with every cause: "cannot open the database data/tether.sqlite3: file is
            // not a database".
            eprintln!("tether-server: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn serve() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    raise_open_file_limit();
    let config = Config::parse();
    // The store first: a database that cannot be used stops the server before it listens.
    let node = open_node(&config).await?;
    let listener =
        bind(config.addr, config.backlog).with_context(|| format!("binding {}", config.addr))?;
    tracing::info!(addr = %listener.local_addr()?, "listening on http://{}", listener.local_addr()?);
    run_with(listener, config, node, shutdown_signal()).await?;
    Ok(())
}

/// Raises the soft limit on open files to the hard limit, as servers that hold many sockets do:
/// the soft limit is often 1024, and `--max-connections` follows it.
fn raise_open_file_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(err) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!(%err, soft, hard, "could not raise the open-file limit");
            }
        }
        Ok(_) => {}
        Err(err) => tracing::warn!(%err, "could not read the open-file limit"),
    }
}

/// Resolves on SIGINT (ctrl-c) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
