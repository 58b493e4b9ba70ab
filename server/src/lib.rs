//! Tether's room server: the chat protocol of the WebSocket guide, on axum.
//!
//! Clients connect to `GET /ws`, get a `connected {clientId}`, join rooms by name and talk to
//! everyone else in them; the wire format is in `tether-protocol` and `PROTOCOL.md`. The server
//! also serves the built app on `/`, `/healthz`, and Prometheus metrics on `/metrics`.
//!
//! ```no_run
//! use tether_server::{Config, bind, run};
//!
//! # async fn example() -> std::io::Result<()> {
//! let config = Config::default();
//! let listener = bind(config.addr, config.backlog)?;
//! // Runs until ctrl-c, then closes every client with 1001.
//! run(listener, config, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```
//!
//! # Layout
//! - [`server`]: routes, the upgrade (origin check, buffer sizes), [`run`] and graceful shutdown.
//! - [`handshake`]: the WebSocket opening handshake, which keeps the upgraded stream for
//!   [`connection`].
//! - [`connection`]: the one task per WebSocket: reads, batched writes, heartbeat, close codes.
//! - [`session`]: one client's protocol state, free of sockets: what each message causes.
//! - [`decode`]: client text to message, or a precise [`Refusal`].
//! - [`rooms`]: the [`Rooms`] seam, this node's members (join, leave, publish, deliver);
//!   [`memory_rooms`] implements it in this process.
//! - [`backplane`]: what crosses nodes (room messages and events, membership, presence, clients
//!   elsewhere); [`backplane::LocalBackplane`] for one node, [`redis_backplane`] for a cluster
//!   on Redis (`--redis`).
//! - [`store`]: the [`Store`] seam, room history: messages numbered per room (`seq`, `epoch`),
//!   kept and read back; [`sqlite_store`] (the default, durable), [`memory_store`] and
//!   [`redis_store`] (a cluster's) implement it. [`catch_up`]: a join that replays what a client missed, then goes live.
//! - [`frame_guard`]: the framing rules tungstenite leaves unchecked (minimal length encodings).
//! - [`peer`], [`outbox`], [`frame`], [`write_batch`]: a connected client, its bounded outgoing
//!   queue, a message encoded once (as a whole WebSocket frame) for every recipient, and the
//!   frames being written to one socket with vectored writes.
//! - [`static_files`]: the built app on `/`, gzipped when the build made `.gz` files, cached by
//!   file name (a year when the name has a content hash, revalidated otherwise).
//! - [`admission`]: how many TCP connections the server holds, in all and per address (429/503
//!   past them); [`rates`]: how fast one connection may send, and when it is flooding.
//! - [`display_name`]: what `identify` accepts; [`resume`]: the tokens that give a client its id
//!   back on its next connection.
//! - [`origin`], [`metrics`], [`config`], [`client_id`]: the rest.
#![warn(missing_docs)]

pub mod admission;
pub mod auth;
pub mod backplane;
pub mod catch_up;
pub mod client_id;
pub mod config;
pub mod connection;
pub mod decode;
pub mod display_name;
pub mod frame;
pub mod frame_guard;
pub mod handshake;
pub mod memory_rooms;
pub mod memory_store;
pub mod metrics;
pub mod origin;
pub mod outbox;
pub mod peer;
pub mod proxy_header;
pub mod rates;
pub mod redis_backplane;
pub mod redis_pipeline;
pub mod redis_store;
pub mod refusal;
pub mod resume;
pub mod rooms;
pub mod server;
pub mod session;
pub mod sqlite_store;
pub mod static_files;
pub mod store;
pub mod write_batch;

pub use client_id::ClientId;
pub use config::Config;
pub use frame::Frame;
pub use handshake::Handshake;
pub use memory_rooms::MemoryRooms;
pub use memory_store::{MemoryStore, Retention};
pub use metrics::Metrics;
pub use origin::OriginPolicy;
pub use outbox::Outbox;
pub use peer::Peer;
pub use refusal::Refusal;
pub use rooms::Rooms;
pub use server::{Node, bind, open_node, open_store, run, run_with};
pub use session::Session;
pub use sqlite_store::SqliteStore;
pub use store::Store;
pub use write_batch::WriteBatch;
