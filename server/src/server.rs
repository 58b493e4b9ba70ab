//! The HTTP side: accepting connections, routes, the WebSocket upgrade, and running until
//! shutdown.

use crate::{
    ClientId, Config, Handshake, MemoryRooms, MemoryStore, Metrics, OriginPolicy, Outbox, Peer,
    Rooms, Session, SqliteStore, Store,
    admission::{self, Admission, Refused, Ticket},
    backplane::{Backplane, LocalBackplane},
    config::StoreKind,
    connection, display_name,
    outbox::Stop,
    proxy_header,
    rates::AddressRates,
    redis_backplane::RedisBackplane,
    redis_store::RedisStore,
    resume::ResumeKeys,
    session::Shared,
    static_files,
};
use axum::{
    Router,
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::{
    future::Future,
    io,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    time::timeout,
};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

/// What every handler shares.
#[derive(Debug, Clone)]
struct AppState {
    // Rooms, store, configuration and metrics, as every session gets them.
    shared: Arc<Shared>,
    // Signs and checks the resume tokens that give a client its id back.
    resume: Arc<ResumeKeys>,
    origins: Arc<OriginPolicy>,
    // Cancelled when shutdown begins (and then every connected client's outbox is told to stop).
    shutdown: CancellationToken,
    // Every connection's task, HTTP and upgraded alike, so shutdown can wait for them.
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

/// Serves the chat on `listener` until `shutdown` resolves, with in-memory rooms and the history
/// store `config` names ([`open_store`]).
///
/// On shutdown it stops accepting, closes every WebSocket with 1001 after delivering what was
/// queued for it, ends idle HTTP connections, waits up to [`Config::shutdown_grace`] for clients
/// and unfinished requests, and returns: nothing a client does can hold it longer.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let node = open_node(&config).await?;
    run_with(listener, config, node, shutdown).await
}

/// What a server serves from: this node's rooms, the history, what crosses nodes, and the key
/// that signs resume tokens.
#[derive(Debug)]
pub struct Node {
    /// This node's members.
    pub rooms: Arc<dyn Rooms>,
    /// The history.
    pub store: Arc<dyn Store>,
    /// What reaches other nodes.
    pub backplane: Arc<dyn Backplane>,
    /// Signs and checks resume tokens.
    pub resume: ResumeKeys,
    /// What `--dev-issue-tokens` signs with when no `--jwt-secret` is given: with `--redis`, a
    /// secret every node on that Redis shares, so that a token from one works on all; alone,
    /// none (a random one for this process).
    pub dev_token_secret: Option<Vec<u8>>,
}

/// Opens what `config` names: alone, in-memory rooms with the history in SQLite (or memory);
/// with `--redis`, a node of the cluster on that Redis (history, delivery and the resume key
/// there).
pub async fn open_node(config: &Config) -> io::Result<Node> {
    let rooms: Arc<dyn Rooms> = Arc::new(MemoryRooms::new());
    if let Some(url) = &config.redis {
        let store = Arc::new(
            RedisStore::open(url, config.retention())
                .await
                .map_err(io::Error::other)?,
        );
        let resume = ResumeKeys::shared(&store).await?;
        let dev_token_secret = match config.dev_issue_tokens && config.jwt_secret.is_none() {
            true => Some(
                store
                    .shared_secret("tether:dev-token-secret", crate::auth::random_secret()?)
                    .await
                    .map_err(io::Error::other)?,
            ),
            false => None,
        };
        let backplane = RedisBackplane::start(url, Arc::clone(&rooms), Arc::clone(&store))
            .map_err(io::Error::other)?;
        return Ok(Node {
            rooms,
            store,
            backplane: Arc::new(backplane),
            resume,
            dev_token_secret,
        });
    }
    let store = open_store(config)?;
    // Tokens outlive a restart only where history does.
    let resume = match config.store {
        StoreKind::Sqlite => ResumeKeys::load_or_create(&config.data_dir)?,
        StoreKind::Memory => ResumeKeys::ephemeral()?,
    };
    Ok(Node {
        backplane: Arc::new(LocalBackplane::new(Arc::clone(&rooms))),
        rooms,
        store,
        resume,
        dev_token_secret: None,
    })
}

/// Opens the history store `config` names: the SQLite database in `--data-dir`, or memory.
pub fn open_store(config: &Config) -> io::Result<Arc<dyn Store>> {
    Ok(match config.store {
        StoreKind::Memory => Arc::new(MemoryStore::new(config.retention())),
        StoreKind::Sqlite => Arc::new(
            SqliteStore::open(&config.data_dir, config.retention()).map_err(io::Error::other)?,
        ),
    })
}

/// [`run`] with the given [`Node`].
pub async fn run_with(
    listener: TcpListener,
    config: Config,
    node: Node,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let Node {
        rooms,
        store,
        backplane,
        resume,
        dev_token_secret,
    } = node;
    let max_connections = match config.max_connections {
        0 => admission::default_max_connections(),
        n => n,
    };
    let metrics = Arc::new(Metrics::default());
    let admission = Admission::new(
        max_connections,
        config.max_connections_per_ip,
        metrics.tcp_connections.clone(),
    );
    let auth = crate::auth::Auth::from_config(&config, dev_token_secret)?;
    let state = AppState {
        origins: Arc::new(OriginPolicy::new(
            &config.allowed_origins,
            config.allow_localhost,
        )),
        shared: Arc::new(Shared {
            addresses: AddressRates::new(&config),
            config: Arc::new(config),
            rooms,
            backplane,
            store,
            metrics,
            auth,
        }),
        resume: Arc::new(resume),
        shutdown: CancellationToken::new(),
        connections: TaskTracker::new(),
    };
    tracing::info!(
        max_connections,
        per_ip = state.shared.config.max_connections_per_ip,
        "accepting connections"
    );
    let http = http_builder(&state.shared.config);
    // The address budgets keep only addresses that sent recently.
    let forget = {
        let (shared, stop) = (Arc::clone(&state.shared), state.shutdown.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = every.tick() => shared.addresses.forget_idle(),
                }
            }
        })
    };
    // The heartbeat: one timer for every connection, as the guide's `setInterval` over its
    // clients. Each beat reaches every connection through its outbox.
    let heartbeat = {
        let (shared, stop) = (Arc::clone(&state.shared), state.shutdown.clone());
        tokio::spawn(async move {
            // The flag refuses zero; a library caller's zero would make `interval_at` panic.
            let period = shared
                .config
                .heartbeat_interval
                .max(Duration::from_millis(1));
            let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = every.tick() => {
                        for peer in shared.rooms.clients() {
                            peer.outbox().beat();
                        }
                    }
                }
            }
        })
    };
    let gate = Gate {
        app: router(state.clone()),
        http,
        admission,
        state: state.clone(),
        refusing: Arc::new(AtomicUsize::new(0)),
    };
    let reading = Arc::new(AtomicUsize::new(0));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(&err).await;
                    continue;
                }
            },
        };
        // Small frames must not wait for delayed ACKs (about 40 ms at the p99 without this).
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!(%err, "could not set TCP_NODELAY");
        }
        if !state.shared.config.proxy_protocol {
            gate.admit(tcp, remote);
            continue;
        }
        // Behind a balancer: who the client is comes first, read off the accept loop.
        if reading.fetch_add(1, Ordering::Relaxed) >= MAX_READING_PROXY_HEADERS {
            reading.fetch_sub(1, Ordering::Relaxed);
            continue;
        }
        let (gate, reading) = (gate.clone(), Arc::clone(&reading));
        let limit = state.shared.config.request_head_timeout;
        state.connections.spawn(async move {
            let mut tcp = tcp;
            let client = timeout(limit, proxy_header::read(&mut tcp, remote)).await;
            reading.fetch_sub(1, Ordering::Relaxed);
            match client {
                Ok(Ok(client)) => gate.admit(tcp, client),
                Ok(Err(err)) => tracing::debug!(%remote, %err, "closed: no PROXY header"),
                Err(_) => tracing::debug!(%remote, "closed: no PROXY header in time"),
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down");
    state.shutdown.cancel();
    for peer in state.shared.rooms.clients() {
        peer.outbox().stop(Stop::GoingAway);
    }
    forget.abort();
    heartbeat.abort();
    let grace = state.shared.config.shutdown_grace;
    state.connections.close();
    if timeout(grace, state.connections.wait()).await.is_err() {
        // What is left is dropped with the runtime (the binary returns from `main` now); nothing
        // a client does keeps the process alive past the grace.
        tracing::warn!(
            remaining = state.connections.len(),
            "connections did not close within the grace period"
        );
    }
    tracing::info!("stopped");
    Ok(())
}

/// Connections whose PROXY header is being read at once (`--proxy-protocol`); past it, a new
/// connection is closed at once. Only the balancer connects then, and it sends the header
/// first thing.
const MAX_READING_PROXY_HEADERS: usize = 1024;

/// Where an accepted connection is admitted (within its address's and the server's limits) and
/// served, or refused.
#[derive(Clone)]
struct Gate {
    app: Router,
    http: http1::Builder,
    admission: Arc<Admission>,
    state: AppState,
    refusing: Arc<AtomicUsize>,
}

impl Gate {
    /// Admits `tcp`, from the client at `remote`, or answers it 429 or 503.
    fn admit(&self, tcp: TcpStream, remote: SocketAddr) {
        let state = &self.state;
        // A client that reconnects in a loop is held to its address's connection rate.
        if !state.shared.addresses.admit_connection(remote.ip()) {
            state.shared.metrics.refused_connect_rate.inc();
            refuse(
                tcp,
                remote,
                Refused::PerIp,
                &state.shared.metrics,
                &self.refusing,
            );
            return;
        }
        match self.admission.admit(remote.ip()) {
            Ok(ticket) => {
                let task = serve_http(
                    tcp,
                    remote,
                    Arc::new(TicketSlot(std::sync::Mutex::new(Some(ticket)))),
                    self.app.clone(),
                    self.http.clone(),
                    state.shutdown.clone(),
                    Arc::clone(&state.shared.metrics),
                );
                state.connections.spawn(task);
            }
            Err(refused) => refuse(tcp, remote, refused, &state.shared.metrics, &self.refusing),
        }
    }
}

/// The HTTP/1.1 server settings that bound what a connection may cost before it is upgraded.
fn http_builder(config: &Config) -> http1::Builder {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        // Runs from the moment the connection is accepted, so it also ends connections that
        // never send a byte, and again for each request on a kept-alive connection.
        .header_read_timeout(config.request_head_timeout)
        // Hyper's read buffer for a request head grows up to this, then answers 431.
        .max_buf_size(config.max_request_head_bytes as usize);
    http
}

/// Serves one admitted TCP connection over HTTP/1.1 until it closes or is upgraded. Once
/// shutdown begins, an idle connection is closed at once and a busy one after its request; one
/// still sending its request head is left to the head timeout, and `run` stops waiting for it
/// when the grace ends.
async fn serve_http(
    tcp: TcpStream,
    remote: SocketAddr,
    ticket: Arc<TicketSlot>,
    app: Router,
    http: http1::Builder,
    shutdown: CancellationToken,
    metrics: Arc<Metrics>,
) {
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(remote));
        request.extensions_mut().insert(Arc::clone(&ticket));
        app.clone().oneshot(request)
    });
    let connection = http
        .serve_connection(TokioIo::new(tcp), service)
        .with_upgrades();
    let mut connection = std::pin::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = result {
        log_http_error(remote, &err, &metrics);
    }
}

fn log_http_error(remote: SocketAddr, err: &hyper::Error, metrics: &Metrics) {
    if err.is_timeout() {
        metrics.head_timeouts.inc();
        tracing::debug!(%remote, "request head not received in time");
    } else if err.is_parse_too_large() {
        metrics.heads_too_large.inc();
        tracing::debug!(%remote, "request head too large");
    } else {
        tracing::debug!(%remote, %err, "HTTP connection ended with an error");
    }
}

/// An admitted connection's [`Ticket`], shared by its HTTP requests until one of them upgrades
/// and takes it: the WebSocket task then holds it by value (no allocation of its own while the
/// socket is idle), and the place is freed when that task ends, or when the HTTP connection
/// ends without an upgrade.
#[derive(Debug)]
struct TicketSlot(std::sync::Mutex<Option<Ticket>>);

impl TicketSlot {
    fn take(&self) -> Option<Ticket> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// How many refused connections may be getting their answer at once; past it, a refused
/// connection is closed without one, so refusing cannot itself become the flood.
const MAX_REFUSING: usize = 256;

/// How long a refused connection is given to read its answer.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Answers a connection over a limit with 429 (its address holds too many) or 503 (the server
/// does), and closes it.
fn refuse(
    tcp: TcpStream,
    remote: SocketAddr,
    refused: Refused,
    metrics: &Metrics,
    refusing: &Arc<AtomicUsize>,
) {
    let (status, counter) = match refused {
        Refused::PerIp => ("429 Too Many Requests", &metrics.refused_per_ip),
        Refused::Full => ("503 Service Unavailable", &metrics.refused_full),
    };
    counter.inc();
    tracing::debug!(%remote, status, "refused a connection");
    if refusing.fetch_add(1, Ordering::Relaxed) >= MAX_REFUSING {
        refusing.fetch_sub(1, Ordering::Relaxed);
        return;
    }
    let refusing = Arc::clone(refusing);
    tokio::spawn(async move {
        let _ = timeout(REFUSAL_LINGER, answer_and_close(tcp, status)).await;
        refusing.fetch_sub(1, Ordering::Relaxed);
    });
}

/// Writes a complete response without reading the request, then closes the sending side and
/// reads (and discards) what the client sent until it closes too: closing a socket with unread
/// data makes the kernel reset the connection, and the client would see the reset, not the
/// answer.
async fn answer_and_close(mut tcp: TcpStream, status: &str) -> io::Result<()> {
    let body = "too many connections\n";
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n\
         retry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(response.as_bytes()).await?;
    tcp.shutdown().await?;
    let mut sink = [0u8; 1024];
    let mut read = 0;
    while read < 64 * 1024 {
        match tcp.read(&mut sink).await? {
            0 => break,
            n => read += n,
        }
    }
    Ok(())
}

/// Backs off after a failed `accept`. Running out of file descriptors fails every accept until
/// a connection closes; retrying at once would spin a core.
async fn accept_failed(err: &io::Error) {
    use io::ErrorKind::*;
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused
    ) {
        return;
    }
    tracing::error!(%err, "accept failed; retrying in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

fn router(state: AppState) -> Router {
    // `/dev/token` is routed even without `--dev-issue-tokens`, to answer 404 there: the built
    // app's file service would answer a POST with 405, and the chat app tells "this server
    // issues no tokens" by the 404.
    let app = Router::new()
        .route("/ws", get(upgrade))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/dev/token", axum::routing::post(dev_token));
    let dir = &state.shared.config.static_dir;
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
    let config = &state.shared.config;
    // The guide's browser client offers `['chat', 'json']`; browsers fail a handshake that offered
    // subprotocols and got none back, so accept those two.
    let handshake = match Handshake::accept(&mut request, &["chat", "json"]) {
        Ok(handshake) => handshake,
        Err(refusal) => return refusal,
    };
    // Moves with the connection into its WebSocket task, so it counts against the limits for as
    // long as the socket is open.
    let Some(ticket) = request
        .extensions_mut()
        .remove::<Arc<TicketSlot>>()
        .and_then(|slot| slot.take())
    else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let query = request.uri().query().unwrap_or_default();
    let now = std::time::SystemTime::now();
    // With token auth, `?token=<JWT>` says who the client is. A browser cannot read an HTTP
    // status on a failed WebSocket handshake, so a bad token is answered after the upgrade,
    // with a close code (4401, 4419).
    let identity = match &state.shared.auth {
        None => Ok(None),
        Some(auth) => match param(query, "token") {
            Some(token) => auth.verify(token, now).map(|i| Some(Arc::new(i))),
            None => Err(crate::auth::Refused::Invalid),
        },
    };
    // `?resume=<token>` from the client's last `connected`: its id back, if the token is good
    // and was issued to the same user.
    let user = identity
        .as_ref()
        .ok()
        .and_then(|i| i.as_ref())
        .map_or("", |i| &*i.user);
    let id = param(query, "resume")
        .and_then(|token| state.resume.verify(token, user, now))
        .unwrap_or_else(ClientId::random);
    let response = handshake.response();
    let websocket = WebSocketConfig::default()
        .max_message_size(Some(config.max_message_bytes))
        .max_frame_size(Some(config.max_message_bytes))
        // Tungstenite allocates its read buffer per connection and zero-fills it on every read;
        // chat messages are small, and larger ones are still read, in more steps.
        .read_buffer_size(READ_BUFFER)
        // Tungstenite writes only control frames (pong, ping, close), each at once; the chat's
        // frames bypass it (see `connection::run`), so no connection keeps a write buffer.
        .write_buffer_size(0)
        // What tungstenite may hold for a client that does not read. Once it is full, tungstenite
        // keeps a single pending pong and replaces it with each new one, so a ping flood costs
        // this much at most.
        .max_write_buffer_size(config.max_control_bytes.max(1));
    let connections = state.connections.clone();
    connections.spawn(serve_socket(Box::new(Accepted {
        handshake,
        websocket,
        remote,
        state,
        ticket,
        id,
        identity,
    })));
    response
}

/// An accepted upgrade, for its task to serve. Handed over boxed: an async fn keeps its
/// arguments for its whole life, beside the locals they are moved into, and every idle
/// connection would pay for the upgrade's parts long after they are used.
struct Accepted {
    handshake: Handshake,
    websocket: WebSocketConfig,
    remote: SocketAddr,
    state: AppState,
    ticket: Ticket,
    id: ClientId,
    identity: Result<Option<Arc<crate::auth::Identity>>, crate::auth::Refused>,
}

/// Tungstenite's read buffer per connection. Client messages are small (a chat line, a join);
/// 512 bytes reads most in one call without holding kilobytes per idle connection.
const READ_BUFFER: usize = 512;

/// Completes the upgrade and serves the connection until it ends: the task of one WebSocket.
async fn serve_socket(accepted: Box<Accepted>) {
    let Accepted {
        handshake,
        websocket,
        remote,
        state,
        ticket,
        id,
        identity,
    } = *accepted;
    // Boxed: the upgrade's future is needed once, and would otherwise reserve its room in this
    // task for the connection's whole life.
    let mut socket = match Box::pin(handshake.into_socket(websocket)).await {
        Ok(socket) => socket,
        Err(err) => {
            tracing::info!(%remote, %err, "the upgrade failed");
            return;
        }
    };
    let identity = match identity {
        Ok(identity) => identity,
        Err(refused) => {
            let (code, reason) = match refused {
                crate::auth::Refused::Invalid => {
                    (tether_protocol::CloseCode::TOKEN_INVALID, "invalid token")
                }
                crate::auth::Refused::Expired => {
                    (tether_protocol::CloseCode::TOKEN_EXPIRED, "token expired")
                }
            };
            tracing::info!(%remote, reason, "refused a token");
            // Boxed: rare, and kept out of every connection's task.
            Box::pin(connection::refuse(
                &mut socket,
                code,
                reason,
                &state.shared.config,
            ))
            .await;
            drop(ticket);
            return;
        }
    };
    let outbox = Outbox::new(state.shared.config.max_queue_bytes);
    let user = identity.as_ref().map_or("", |i| &*i.user).to_owned();
    let peer = Arc::new(match identity {
        Some(identity) => Peer::with_identity(id, outbox, identity),
        None => Peer::new(id, outbox),
    });
    let token = state.resume.issue(id, &user, std::time::SystemTime::now());
    let session = Session::start(peer, &state.shared, remote.ip(), Some(token));
    // Shutdown tells every connected client (below, in `run_with`); one that connected as it
    // began may have been missed, and is told here.
    if state.shutdown.is_cancelled() {
        session.peer().outbox().stop(Stop::GoingAway);
    }
    tracing::info!(client = %id, %remote, "connected");
    let started = Instant::now();
    let ending = connection::run(
        &mut socket,
        session,
        &state.shared.config,
        &state.shared.metrics,
    )
    .await;
    tracing::info!(client = %id, ?ending, seconds = started.elapsed().as_secs(), "disconnected");
    drop(ticket);
}

/// The parameter `name` of a query string (tokens are URL-safe: taken as they are).
fn param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|pair| {
        pair.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('='))
    })
}

/// What `POST /dev/token` takes: the name to put in the token, the user (a new one if absent)
/// and the lifetime in seconds (`--dev-token-ttl` if absent, at most a day).
#[derive(Debug, serde::Deserialize)]
struct DevTokenRequest {
    name: Option<String>,
    user: Option<String>,
    ttl: Option<u64>,
}

/// `POST /dev/token` (`--dev-issue-tokens`, development only): a token for anyone who asks.
/// Without the flag: 404, whatever the request.
async fn dev_token(
    State(state): State<AppState>,
    request: Result<axum::Json<DevTokenRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Some(auth) = state.shared.auth.as_ref().filter(|auth| auth.issues()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let request = match request {
        Ok(axum::Json(request)) => request,
        Err(rejection) => return rejection.into_response(),
    };
    let name = match request.name.as_deref().map(|name| {
        display_name::check(name, state.shared.config.max_name_bytes).map(str::to_owned)
    }) {
        Some(Ok(name)) => Some(name),
        Some(Err(refusal)) => {
            return (StatusCode::BAD_REQUEST, format!("{}\n", refusal.message)).into_response();
        }
        None => None,
    };
    let user = match request.user {
        Some(user) if !user.is_empty() && user.len() <= 256 => user,
        Some(_) => return (StatusCode::BAD_REQUEST, "bad user\n").into_response(),
        None => format!("dev-{}", ClientId::random()),
    };
    let lifetime = request
        .ttl
        .map_or(state.shared.config.dev_token_ttl, Duration::from_secs);
    let now = std::time::SystemTime::now();
    match auth.issue(&user, name.as_deref(), lifetime, now) {
        Some(token) => {
            axum::Json(serde_json::json!({"token": token, "userId": user})).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state
        .shared
        .metrics
        .rooms
        .set(state.shared.rooms.room_count() as i64);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.shared.metrics.render(),
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
