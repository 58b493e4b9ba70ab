//! The HTTP side: routes, the WebSocket upgrade, and running until shutdown.

use crate::{
    ClientId, Config, Handshake, MemoryRooms, Metrics, OriginPolicy, Outbox, Peer, Rooms, Session,
    connection,
    fault::{Fault, FaultQuery},
    static_files,
};
use axum::{
    Router,
    body::Body,
    extract::{ConnectInfo, Query, Request, State},
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
    serve::ListenerExt,
};
use std::{future::Future, io, net::SocketAddr, sync::Arc, time::Instant};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// What every handler shares.
#[derive(Debug, Clone)]
struct AppState {
    config: Arc<Config>,
    rooms: Arc<dyn Rooms>,
    metrics: Arc<Metrics>,
    origins: Arc<OriginPolicy>,
    // Cancelled when shutdown begins; every connection's kill token is a child of it.
    shutdown: CancellationToken,
    // Tracks upgraded connections, which axum's graceful shutdown does not see.
    connections: TaskTracker,
}

/// Binds a TCP listener with the configured listen backlog.
///
/// Tokio's `TcpListener::bind` listens with a backlog of 128 here; in a reconnect storm that
/// overflows, and each dropped SYN costs its client a one-second retransmit.
pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // Restarting the server must not wait for the old socket's TIME_WAIT to pass.
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    TcpListener::from_std(socket.into())
}

/// Serves the chat on `listener` until `shutdown` resolves, with in-memory rooms.
///
/// On shutdown it stops accepting, closes every WebSocket with 1001 after delivering what was
/// queued for it, waits up to [`Config::shutdown_grace`] for the clients to answer, and returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    run_with_rooms(listener, config, Arc::new(MemoryRooms::new()), shutdown).await
}

/// [`run`] with another [`Rooms`] implementation.
pub async fn run_with_rooms(
    listener: TcpListener,
    config: Config,
    rooms: Arc<dyn Rooms>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let state = AppState {
        origins: Arc::new(OriginPolicy::new(
            &config.allowed_origins,
            config.allow_localhost,
        )),
        config: Arc::new(config),
        rooms,
        metrics: Arc::new(Metrics::default()),
        shutdown: CancellationToken::new(),
        connections: TaskTracker::new(),
    };
    let grace = state.config.shutdown_grace;
    let token = state.shutdown.clone();
    let connections = state.connections.clone();
    let app = router(state);
    // Small frames must not wait for delayed ACKs (about 40 ms at the p99 without this).
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!(%err, "could not set TCP_NODELAY");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down");
        token.cancel();
    })
    .await?;
    connections.close();
    if tokio::time::timeout(grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            remaining = connections.len(),
            "clients did not close within the grace period"
        );
    }
    tracing::info!("stopped");
    Ok(())
}

fn router(state: AppState) -> Router {
    let app = Router::new()
        .route("/ws", get(upgrade))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics));
    let dir = &state.config.static_dir;
    let app = if dir.is_dir() {
        app.fallback_service(static_files::router(dir))
    } else {
        tracing::info!(dir = %dir.display(), "no built app; / shows a note");
        app.route("/", get(no_app))
    };
    app.with_state(state)
}

async fn upgrade(
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    State(state): State<AppState>,
    mut request: Request<Body>,
) -> Response {
    let headers = request.headers();
    if !state.origins.allows(headers) {
        tracing::info!(%remote, origin = ?headers.get(header::ORIGIN), "refused a foreign origin");
        return (StatusCode::FORBIDDEN, "origin not allowed\n").into_response();
    }
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    let config = &state.config;
    // Parsed only in test mode, so that no query string can make a normal handshake fail.
    let fault = if config.test_mode {
        Query::<FaultQuery>::try_from_uri(request.uri()).map_or(Fault::None, |q| q.fault())
    } else {
        Fault::None
    };
    // The guide's browser client offers `['chat', 'json']`; browsers fail a handshake that offered
    // subprotocols and got none back, so accept those two.
    let handshake = match Handshake::accept(&mut request, &["chat", "json"]) {
        Ok(handshake) => handshake,
        Err(refusal) => return refusal,
    };
    let response = handshake.response();
    let websocket = WebSocketConfig::default()
        .max_message_size(Some(config.max_message_bytes))
        .max_frame_size(Some(config.max_message_bytes))
        // Tungstenite allocates its read buffer per connection and zero-fills it on every read;
        // chat messages are small, and larger ones are still read, in more steps.
        .read_buffer_size(READ_BUFFER)
        // Tungstenite writes only control frames (pong, ping, close), each at once; the chat's
        // frames bypass it (see `connection::run`), so no connection keeps a write buffer.
        .write_buffer_size(0);
    let connections = state.connections.clone();
    connections.spawn(serve_socket(handshake, websocket, remote, state, fault));
    response
}

/// Tungstenite's read buffer per connection. Client messages are small (a chat line, a join);
/// 512 bytes reads most in one call without holding kilobytes per idle connection.
const READ_BUFFER: usize = 512;

/// Completes the upgrade and serves the connection until it ends: the task of one WebSocket.
async fn serve_socket(
    handshake: Handshake,
    websocket: WebSocketConfig,
    remote: SocketAddr,
    state: AppState,
    fault: Fault,
) {
    // Boxed: the upgrade's future is needed once, and would otherwise reserve its room in this
    // task for the connection's whole life.
    let mut socket = match Box::pin(handshake.into_socket(websocket)).await {
        Ok(socket) => socket,
        Err(err) => {
            tracing::info!(%remote, %err, "the upgrade failed");
            return;
        }
    };
    let id = ClientId::random();
    let outbox = Outbox::new(state.config.max_queue_bytes, state.shutdown.child_token());
    let peer = Arc::new(Peer::new(id, outbox));
    let session = Session::start(
        peer,
        Arc::clone(&state.rooms),
        Arc::clone(&state.config),
        Arc::clone(&state.metrics),
    );
    tracing::info!(client = %id, %remote, "connected");
    let started = Instant::now();
    let ending = connection::run(&mut socket, session, &state.config, &state.metrics, fault).await;
    tracing::info!(client = %id, ?ending, seconds = started.elapsed().as_secs(), "disconnected");
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.metrics.rooms.set(state.rooms.room_count() as i64);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

async fn no_app() -> Html<&'static str> {
    Html(concat!(
        "<!doctype html><meta charset=utf-8><title>Tether</title>",
        "<p>The Tether server is running: WebSocket endpoint <code>/ws</code>, ",
        "health <code>/healthz</code>, metrics <code>/metrics</code>.</p>",
        "<p>The chat app is not built: run <code>scripts/run.sh</code> to build and serve it.</p>",
    ))
}
