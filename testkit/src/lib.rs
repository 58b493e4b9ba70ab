//! Test infrastructure for Tether's browser tests: what a browser cannot do for itself.
//!
//! A browser test cannot kill a server process, and the real server has no switch to misbehave
//! (no test machinery in its hot path). The `tether-supervisor` binary (`src/main.rs`) runs the
//! real server as a child process that tests can kill and restart; this library holds the
//! [`FaultProxy`] it puts in front of that server, through which a test's WebSocket meets a
//! server that hangs, closes with a chosen code, or echoes.
//!
//! ```no_run
//! use tether_testkit::FaultProxy;
//! use tokio::net::TcpListener;
//!
//! # async fn example(server: std::net::SocketAddr) -> std::io::Result<()> {
//! let listener = TcpListener::bind("127.0.0.1:0").await?;
//! // A test now opens ws://{this address}/ws?fault=mute, or ?fault=close&code=1008, ...
//! println!("faults at ws://{}/ws", listener.local_addr()?);
//! FaultProxy::new(listener, server)
//!     .run(async {
//!         let _ = tokio::signal::ctrl_c().await;
//!     })
//!     .await;
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//! - [`FaultProxy`] (`fault_proxy.rs`): the proxy, one task per connection carrying both
//!   directions.
//! - `fault.rs`: `Fault`, the misbehaviours, and how the query of a URL names them.
//! - `muzzle.rs`: `Muzzle`, a byte stream whose writes can be silenced, so that a muted
//!   connection does not even answer pings.
#![warn(missing_docs)]

mod fault;
mod fault_proxy;
mod muzzle;

pub use fault_proxy::FaultProxy;
