//! `Socket`: the browser `WebSocket`, made resilient.

use crate::{
    Backoff, CloseAction, ConnectError, ConnectionState, Heartbeat, Incoming, Outgoing, ReadyState,
    RequestError, SendError, SendQueue, SocketEvent, SocketOptions, error::js_text,
    events::CloseInfo, heartbeat::Beat, listener::Listener, url::resolve_url,
};
use futures_channel::oneshot;
use gloo_timers::callback::Timeout;
use serde::Serialize;
use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
    fmt,
    future::Future,
    pin::Pin,
    rc::{Rc, Weak},
    time::Duration,
};
use tether_protocol::{RequestId, ServerMessage};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

type UrlFuture = Pin<Box<dyn Future<Output = Result<String, String>>>>;

/// Where the URL of each attempt comes from.
#[derive(Clone)]
enum UrlSource {
    Fixed(String),
    // Called before every attempt, e.g. to put a fresh token in the query.
    Provider(Rc<dyn Fn() -> UrlFuture>),
}

/// A resilient WebSocket: a cheap, cloneable handle over the browser's `WebSocket` that adds a
/// heartbeat, reconnects with backoff and jitter, queues sends while not open, and matches
/// requests to the server's acks.
///
/// The socket owns every listener, timer and browser socket it creates. [`close`](Self::close)
/// ends it for good; dropping the last handle does the same and detaches everything. Listeners
/// given to [`on`](Self::on) must not hold a strong handle to the socket (that would keep it alive
/// forever): capture a [`WeakSocket`] from [`downgrade`](Self::downgrade) instead.
#[derive(Clone)]
pub struct Socket {
    inner: Rc<Inner>,
}

/// A handle that does not keep the socket alive; for use inside listeners.
#[derive(Clone)]
pub struct WeakSocket {
    inner: Weak<Inner>,
}

/// Keeps a listener attached; dropping it detaches the listener.
#[must_use = "the listener is removed when the subscription is dropped"]
pub struct Subscription {
    inner: Weak<Inner>,
    id: u64,
}

type Callback = Rc<RefCell<dyn FnMut(&SocketEvent)>>;

struct Inner {
    state: RefCell<State>,
    // Kept apart from `state` so listeners can call back into the socket while an event is
    // dispatched: no borrow of `state` is held while user code runs.
    callbacks: RefCell<Vec<(u64, Callback)>>,
    next_callback: Cell<u64>,
}

struct State {
    url: UrlSource,
    options: SocketOptions,
    status: ConnectionState,
    conn: Option<Connection>,
    // Counts attempts, so that events of an abandoned attempt are ignored.
    generation: u64,
    opened_before: bool,
    backoff: Backoff,
    heartbeat: Option<Heartbeat>,
    heartbeat_timer: Option<Timeout>,
    reconnect_timer: Option<Timeout>,
    drain_timer: Option<Timeout>,
    queue: SendQueue,
    // The request ids of queued messages, front to back, `None` for plain sends.
    queued_requests: std::collections::VecDeque<Option<u64>>,
    pending: HashMap<u64, Pending>,
    next_request: u64,
    rooms: Vec<String>,
    // online, offline, visibilitychange, pageshow: kept for the socket's whole life.
    page_listeners: Vec<Listener>,
}

/// One attempt's browser socket and its listeners.
struct Connection {
    ws: WebSocket,
    _listeners: [Listener; 4],
    connect_timer: Option<Timeout>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // The listeners are removed right after this, so no event of this socket reaches us again.
        let state = self.ws.ready_state();
        if state == WebSocket::CONNECTING || state == WebSocket::OPEN {
            let _ = self.ws.close_with_code_and_reason(1000, "");
        }
    }
}

struct Pending {
    reply: oneshot::Sender<Result<(), RequestError>>,
    _timer: Timeout,
    // Sent on the current connection (rather than still queued): its ack can only come on it.
    sent: bool,
}

fn now() -> f64 {
    js_sys::Date::now()
}

fn is_online() -> bool {
    web_sys::window().is_none_or(|w| w.navigator().on_line())
}

fn page_url() -> Option<String> {
    web_sys::window().and_then(|w| w.location().href().ok())
}

fn millis(d: Duration) -> u32 {
    d.as_millis().min(u128::from(u32::MAX)) as u32
}

impl Socket {
    /// Connects to `url` with the default options. `url` may be `ws:`/`wss:`, `http:`/`https:`
    /// (turned into `ws:`/`wss:`), or relative to the page (`/ws`).
    pub fn new(url: &str) -> Result<Self, ConnectError> {
        Self::with_options(url, SocketOptions::default())
    }

    /// Connects to `url` with these options.
    pub fn with_options(url: &str, options: SocketOptions) -> Result<Self, ConnectError> {
        // Resolve now, so that a bad URL is an error here and not a reconnect loop.
        let url = resolve_url(url, page_url().as_deref())?;
        Ok(Self::start(UrlSource::Fixed(url), options))
    }

    /// Connects to the URL `provider` gives, calling it before every attempt (it may be async,
    /// e.g. to fetch a fresh token). An `Err` counts as a failed attempt.
    pub fn with_url_provider<F, Fut>(provider: F, options: SocketOptions) -> Self
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<String, String>> + 'static,
    {
        let provider: Rc<dyn Fn() -> UrlFuture> = Rc::new(move || Box::pin(provider()));
        Self::start(UrlSource::Provider(provider), options)
    }

    fn start(url: UrlSource, options: SocketOptions) -> Self {
        let immediate = options.immediate;
        let inner = Rc::new(Inner {
            state: RefCell::new(State {
                url,
                backoff: Backoff::new(options.reconnect.clone()),
                queue: SendQueue::new(options.queue),
                options,
                status: if immediate {
                    ConnectionState::Connecting
                } else {
                    ConnectionState::Closed
                },
                conn: None,
                generation: 0,
                opened_before: false,
                heartbeat: None,
                heartbeat_timer: None,
                reconnect_timer: None,
                drain_timer: None,
                queued_requests: Default::default(),
                pending: HashMap::new(),
                next_request: 1,
                rooms: Vec::new(),
                page_listeners: Vec::new(),
            }),
            callbacks: RefCell::new(Vec::new()),
            next_callback: Cell::new(0),
        });
        inner.state.borrow_mut().page_listeners = page_listeners(&inner);
        if immediate {
            inner.connect();
        }
        Self { inner }
    }

    /// A handle that does not keep the socket alive.
    pub fn downgrade(&self) -> WeakSocket {
        WeakSocket {
            inner: Rc::downgrade(&self.inner),
        }
    }

    /// Calls `listener` with every event until the returned [`Subscription`] is dropped.
    pub fn on(&self, listener: impl FnMut(&SocketEvent) + 'static) -> Subscription {
        let id = self.inner.next_callback.get();
        self.inner.next_callback.set(id + 1);
        self.inner
            .callbacks
            .borrow_mut()
            .push((id, Rc::new(RefCell::new(listener))));
        Subscription {
            inner: Rc::downgrade(&self.inner),
            id,
        }
    }

    /// Where the socket is in its life.
    pub fn state(&self) -> ConnectionState {
        self.inner.state.borrow().status
    }

    /// The browser-style ready state: 0 connecting (also while waiting to reconnect), 1 open,
    /// 2 closing, 3 closed.
    pub fn ready_state(&self) -> ReadyState {
        self.state().ready_state()
    }

    /// The URL of the current connection, if there is one.
    pub fn url(&self) -> Option<String> {
        self.with_ws(|ws| ws.url())
    }

    /// The subprotocol the server chose, or `""` (also while not connected).
    pub fn protocol(&self) -> String {
        self.with_ws(|ws| ws.protocol()).unwrap_or_default()
    }

    /// Bytes handed to the browser and not yet sent.
    pub fn buffered_amount(&self) -> u32 {
        self.with_ws(|ws| ws.buffered_amount()).unwrap_or(0)
    }

    /// Messages waiting in the send queue.
    pub fn queued(&self) -> usize {
        self.inner.state.borrow().queue.len()
    }

    /// Reconnect attempts since the counter last reset.
    pub fn attempts(&self) -> u32 {
        self.inner.state.borrow().backoff.attempts()
    }

    fn with_ws<T>(&self, f: impl FnOnce(&WebSocket) -> T) -> Option<T> {
        self.inner.state.borrow().conn.as_ref().map(|c| f(&c.ws))
    }

    /// Sends a text message now if open, else queues it for the next open.
    pub fn send_text(&self, text: impl Into<String>) -> Result<(), SendError> {
        self.inner.send(Outgoing::Text(text.into()), None)
    }

    /// Sends a binary message now if open, else queues it for the next open.
    pub fn send_binary(&self, bytes: impl Into<Vec<u8>>) -> Result<(), SendError> {
        self.inner.send(Outgoing::Binary(bytes.into()), None)
    }

    /// Sends any serde value as JSON text (a `tether_protocol::ClientFrame`, say).
    pub fn send_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), SendError> {
        let text = serde_json::to_string(value).map_err(|e| SendError::Encode(e.to_string()))?;
        self.send_text(text)
    }

    /// Sends the envelope `{"type": kind, "payload": payload}`.
    pub fn emit<P: Serialize + ?Sized>(&self, kind: &str, payload: &P) -> Result<(), SendError> {
        self.send_json(&Envelope {
            kind,
            payload,
            id: None,
        })
    }

    /// Sends `{"type": kind, "payload": payload, "id": n}` and resolves when the server's `ack`
    /// with that id arrives: `Ok` if it says `ok`, [`RequestError::Refused`] if not. Fails with
    /// [`RequestError::Timeout`] if no ack arrives within `timeout`, and with
    /// [`RequestError::Closed`] if the connection it went out on closes first. A request made
    /// while not open is queued like any send, and its clock runs from now.
    pub fn request<P: Serialize + ?Sized>(
        &self,
        kind: &str,
        payload: &P,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), RequestError>> + 'static {
        let reply = self.inner.request(kind, payload, timeout);
        async move {
            match reply {
                Ok(rx) => rx.await.unwrap_or(Err(RequestError::Closed)),
                Err(err) => Err(err),
            }
        }
    }

    /// Joins a room (`{"type":"join","payload":{"roomId":room}}`) and, with
    /// [`SocketOptions::rejoin`], remembers it to join again after every reconnect.
    pub fn join(&self, room: &str) -> Result<(), SendError> {
        self.emit("join", &RoomPayload { room_id: room })?;
        let mut state = self.inner.state.borrow_mut();
        if !state.rooms.iter().any(|r| r == room) {
            state.rooms.push(room.to_owned());
        }
        Ok(())
    }

    /// Leaves a room and forgets it.
    pub fn leave(&self, room: &str) -> Result<(), SendError> {
        self.inner.state.borrow_mut().rooms.retain(|r| r != room);
        self.emit("leave", &RoomPayload { room_id: room })
    }

    /// The rooms joined with [`join`](Self::join) and not left.
    pub fn rooms(&self) -> Vec<String> {
        self.inner.state.borrow().rooms.clone()
    }

    /// Closes the socket for good: no reconnect follows, queued sends are dropped, pending
    /// requests fail with [`RequestError::Closed`]. `code` must be 1000 or 3000–4999 (the browser
    /// allows no others) and `reason` at most 123 bytes.
    pub fn close(&self, code: u16, reason: &str) -> Result<(), SendError> {
        if code != 1000 && !(3000..=4999).contains(&code) {
            return Err(SendError::Browser(format!(
                "close code {code} is not 1000 or 3000-4999"
            )));
        }
        if reason.len() > 123 {
            return Err(SendError::Browser("close reason is over 123 bytes".into()));
        }
        self.inner.close(code, reason);
        Ok(())
    }

    /// Connects again now: after the attempts ran out, after `close()`, or to replace a
    /// connection that looks stuck. Starts the attempt counter over.
    pub fn reconnect(&self) {
        let failed = {
            let mut state = self.inner.state.borrow_mut();
            state.backoff.reset();
            state.reconnect_timer = None;
            state.heartbeat = None;
            state.heartbeat_timer = None;
            state.conn = None;
            take_sent_requests(&mut state)
        };
        fail(failed);
        self.inner.connect();
    }
}

impl WeakSocket {
    /// The socket, if any handle to it is still alive.
    pub fn upgrade(&self) -> Option<Socket> {
        self.inner.upgrade().map(|inner| Socket { inner })
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            inner
                .callbacks
                .borrow_mut()
                .retain(|(id, _)| *id != self.id);
        }
    }
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.borrow();
        f.debug_struct("Socket")
            .field("state", &state.status)
            .field("queued", &state.queue.len())
            .field("pending_requests", &state.pending.len())
            .field("rooms", &state.rooms)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for WeakSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakSocket").finish_non_exhaustive()
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .finish()
    }
}

#[derive(Serialize)]
struct Envelope<'a, P: ?Sized> {
    #[serde(rename = "type")]
    kind: &'a str,
    payload: &'a P,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RoomPayload<'a> {
    room_id: &'a str,
}

/// Attaches the page-level listeners: network and visibility changes trigger an immediate check.
fn page_listeners(inner: &Rc<Inner>) -> Vec<Listener> {
    let Some(window) = web_sys::window() else {
        return Vec::new();
    };
    let on = |target: &web_sys::EventTarget, event: &'static str, handler: fn(&Rc<Inner>)| {
        let weak = Rc::downgrade(inner);
        Listener::new(target, event, move |_| {
            if let Some(inner) = weak.upgrade() {
                handler(&inner);
            }
        })
    };
    let mut listeners = vec![
        on(&window, "online", Inner::on_online),
        on(&window, "offline", Inner::on_offline),
        on(&window, "pageshow", Inner::on_wake),
    ];
    if let Some(document) = window.document() {
        listeners.push(on(&document, "visibilitychange", |inner| {
            let visible = web_sys::window()
                .and_then(|w| w.document())
                .is_some_and(|d| d.visibility_state() == web_sys::VisibilityState::Visible);
            if visible {
                inner.on_wake();
            }
        }));
    }
    listeners
}

impl Inner {
    /// Calls every listener with each event, holding no borrow of the state.
    fn dispatch(&self, events: Vec<SocketEvent>) {
        for event in events {
            let callbacks: Vec<Callback> = self
                .callbacks
                .borrow()
                .iter()
                .map(|(_, c)| Rc::clone(c))
                .collect();
            for callback in callbacks {
                // A listener that triggers an event inside itself would borrow twice: skip it
                // for that nested event rather than panic.
                if let Ok(mut callback) = callback.try_borrow_mut() {
                    callback(&event);
                }
            }
        }
    }

    /// Starts an attempt (or waits for the network when offline).
    fn connect(self: &Rc<Self>) {
        let (generation, source) = {
            let mut state = self.state.borrow_mut();
            state.reconnect_timer = None;
            state.conn = None;
            state.generation += 1;
            if !is_online() {
                state.status = ConnectionState::Offline;
                drop(state);
                self.dispatch(vec![SocketEvent::State(ConnectionState::Offline)]);
                return;
            }
            state.status = ConnectionState::Connecting;
            (state.generation, state.url.clone())
        };
        self.dispatch(vec![SocketEvent::State(ConnectionState::Connecting)]);
        match source {
            UrlSource::Fixed(url) => self.open(generation, Ok(url)),
            UrlSource::Provider(provider) => {
                let url = provider();
                let weak = Rc::downgrade(self);
                wasm_bindgen_futures::spawn_local(async move {
                    let url = url.await;
                    if let Some(inner) = weak.upgrade() {
                        inner.open(generation, url);
                    }
                });
            }
        }
    }

    fn current(&self, generation: u64) -> bool {
        self.state.borrow().generation == generation
    }

    /// Creates the browser socket for attempt `generation`.
    fn open(self: &Rc<Self>, generation: u64, url: Result<String, String>) {
        if !self.current(generation) {
            return;
        }
        let created = url
            .and_then(|url| resolve_url(&url, page_url().as_deref()).map_err(|e| e.to_string()))
            .and_then(|url| {
                let protocols = &self.state.borrow().options.protocols;
                let ws = if protocols.is_empty() {
                    WebSocket::new(&url)
                } else {
                    let list = js_sys::Array::new();
                    for p in protocols {
                        list.push(&JsValue::from_str(p));
                    }
                    WebSocket::new_with_str_sequence(&url, &list)
                };
                ws.map_err(|e| js_text(&e))
            });
        let ws = match created {
            Ok(ws) => ws,
            Err(reason) => {
                self.dispatch(vec![SocketEvent::Error]);
                self.closed(CloseInfo {
                    code: 1006,
                    reason,
                    was_clean: false,
                });
                return;
            }
        };
        ws.set_binary_type(BinaryType::Arraybuffer);
        let listen = |event: &'static str, handler: fn(&Rc<Inner>, &web_sys::Event)| {
            let weak = Rc::downgrade(self);
            Listener::new(&ws, event, move |e| {
                if let Some(inner) = weak.upgrade()
                    && inner.current(generation)
                {
                    handler(&inner, e);
                }
            })
        };
        let listeners = [
            listen("open", |inner, _| inner.on_open()),
            listen("message", Inner::on_message),
            listen("error", |inner, _| inner.dispatch(vec![SocketEvent::Error])),
            listen("close", |inner, e| {
                let e: &CloseEvent = e.unchecked_ref();
                inner.closed(CloseInfo {
                    code: e.code(),
                    reason: e.reason(),
                    was_clean: e.was_clean(),
                });
            }),
        ];
        let weak = Rc::downgrade(self);
        let timeout = self.state.borrow().options.connect_timeout;
        let connect_timer = Timeout::new(millis(timeout), move || {
            if let Some(inner) = weak.upgrade()
                && inner.current(generation)
                && inner.state.borrow().status == ConnectionState::Connecting
            {
                inner.state.borrow_mut().conn = None;
                inner.closed(CloseInfo {
                    code: 1006,
                    reason: "connect timeout".into(),
                    was_clean: false,
                });
            }
        });
        self.state.borrow_mut().conn = Some(Connection {
            ws,
            _listeners: listeners,
            connect_timer: Some(connect_timer),
        });
    }

    fn on_open(self: &Rc<Self>) {
        let reconnected = {
            let mut state = self.state.borrow_mut();
            let state = &mut *state;
            let now = now();
            state.status = ConnectionState::Open;
            state.backoff.opened(now);
            state.heartbeat = state
                .options
                .heartbeat
                .as_ref()
                .map(|options| Heartbeat::new(options, now));
            if let Some(conn) = &mut state.conn {
                conn.connect_timer = None;
            }
            let reconnected = state.opened_before;
            state.opened_before = true;
            if reconnected && state.options.rejoin {
                let ws = state.conn.as_ref().map(|c| c.ws.clone());
                for room in &state.rooms {
                    if let (Some(ws), Ok(join)) = (
                        &ws,
                        serde_json::to_string(&Envelope {
                            kind: "join",
                            payload: &RoomPayload { room_id: room },
                            id: None,
                        }),
                    ) {
                        let _ = ws.send_with_str(&join);
                    }
                }
            }
            reconnected
        };
        self.schedule_heartbeat();
        self.flush();
        self.dispatch(vec![
            SocketEvent::State(ConnectionState::Open),
            SocketEvent::Open { reconnected },
        ]);
    }

    fn on_message(self: &Rc<Self>, event: &web_sys::Event) {
        let event: &MessageEvent = event.unchecked_ref();
        let data = event.data();
        let incoming = if let Some(text) = data.as_string() {
            Incoming::Text(text)
        } else if let Some(buffer) = data.dyn_ref::<js_sys::ArrayBuffer>() {
            Incoming::Binary(js_sys::Uint8Array::new(buffer).to_vec())
        } else {
            return;
        };
        let is_pong = {
            let mut state = self.state.borrow_mut();
            if let Some(heartbeat) = &mut state.heartbeat {
                heartbeat.received(now());
            }
            match (&incoming, &state.options.heartbeat) {
                (Incoming::Text(text), Some(options)) => (options.is_pong)(text),
                _ => false,
            }
        };
        if is_pong {
            return;
        }
        if let Incoming::Text(text) = &incoming
            && text.contains("\"ack\"")
            && let Ok(ServerMessage::Ack(ack)) = serde_json::from_str::<ServerMessage>(text)
            && let RequestId::Number(id) = ack.id
        {
            let pending = self.state.borrow_mut().pending.remove(&id);
            if let Some(pending) = pending {
                let result = if ack.ok {
                    Ok(())
                } else {
                    Err(RequestError::Refused {
                        code: ack.code,
                        message: ack.error.unwrap_or_default(),
                    })
                };
                let _ = pending.reply.send(result);
            }
        }
        self.dispatch(vec![SocketEvent::Message(incoming)]);
    }

    /// A connection ended (closed, failed to open, timed out, or declared dead).
    fn closed(self: &Rc<Self>, info: CloseInfo) {
        let (events, failed) = {
            let mut state = self.state.borrow_mut();
            let state = &mut *state;
            state.conn = None;
            state.heartbeat = None;
            state.heartbeat_timer = None;
            state.drain_timer = None;
            state.backoff.closed(now());
            let failed = take_sent_requests(state);
            let mut events = vec![SocketEvent::Close(info.clone())];
            let by_user = matches!(
                state.status,
                ConnectionState::Closing | ConnectionState::Closed
            );
            if by_user || state.options.close_policy.action(info.code) == CloseAction::Stop {
                state.status = ConnectionState::Closed;
                events.push(SocketEvent::State(ConnectionState::Closed));
            } else {
                events.extend(self.schedule_reconnect(state));
            }
            (events, failed)
        };
        fail(failed);
        self.dispatch(events);
    }

    fn schedule_reconnect(self: &Rc<Self>, state: &mut State) -> Vec<SocketEvent> {
        match state.backoff.next(js_sys::Math::random()) {
            Some((attempt, delay)) => {
                let weak = Rc::downgrade(self);
                state.reconnect_timer = Some(Timeout::new(millis(delay), move || {
                    if let Some(inner) = weak.upgrade() {
                        inner.connect();
                    }
                }));
                let status = ConnectionState::Reconnecting {
                    attempt,
                    at: (now() + delay.as_secs_f64() * 1000.0) as u64,
                };
                state.status = status;
                vec![
                    SocketEvent::Reconnecting { attempt, delay },
                    SocketEvent::State(status),
                ]
            }
            None => {
                state.status = ConnectionState::Closed;
                vec![
                    SocketEvent::GaveUp,
                    SocketEvent::State(ConnectionState::Closed),
                ]
            }
        }
    }

    fn schedule_heartbeat(self: &Rc<Self>) {
        let mut state = self.state.borrow_mut();
        let Some(deadline) = state.heartbeat.as_ref().map(Heartbeat::next_deadline) else {
            return;
        };
        let generation = state.generation;
        let weak = Rc::downgrade(self);
        let delay = (deadline - now()).max(0.0) as u32;
        state.heartbeat_timer = Some(Timeout::new(delay, move || {
            if let Some(inner) = weak.upgrade()
                && inner.current(generation)
            {
                inner.beat(|hb| hb.poll(now()));
            }
        }));
    }

    /// Runs the heartbeat one step and acts on what it says.
    fn beat(self: &Rc<Self>, step: impl FnOnce(&mut Heartbeat) -> Beat) {
        let beat = {
            let mut state = self.state.borrow_mut();
            let state = &mut *state;
            let Some(heartbeat) = &mut state.heartbeat else {
                return;
            };
            let beat = step(heartbeat);
            if beat == Beat::Ping
                && let (Some(conn), Some(options)) = (&state.conn, &state.options.heartbeat)
            {
                let _ = conn.ws.send_with_str(&options.ping);
            }
            beat
        };
        if beat == Beat::Dead {
            // The socket may say OPEN after a sleep or a network change; don't wait for a close
            // handshake that will never complete.
            if let Some(conn) = self.state.borrow_mut().conn.take() {
                let _ = conn
                    .ws
                    .close_with_code_and_reason(4000, "heartbeat timeout");
            }
            self.dispatch(vec![SocketEvent::HeartbeatTimeout]);
            self.closed(CloseInfo {
                code: 1006,
                reason: "heartbeat timeout".into(),
                was_clean: false,
            });
        } else {
            self.schedule_heartbeat();
        }
    }

    fn on_wake(self: &Rc<Self>) {
        let status = self.state.borrow().status;
        match status {
            ConnectionState::Open => self.beat(|hb| hb.probe(now())),
            // A background tab's timers may have been throttled past the scheduled attempt.
            ConnectionState::Reconnecting { at, .. } if now() >= at as f64 => self.connect(),
            _ => {}
        }
    }

    fn on_online(self: &Rc<Self>) {
        let status = self.state.borrow().status;
        match status {
            ConnectionState::Offline | ConnectionState::Reconnecting { .. } => {
                self.state.borrow_mut().backoff.reset();
                self.connect();
            }
            ConnectionState::Open => self.beat(|hb| hb.probe(now())),
            _ => {}
        }
    }

    fn on_offline(self: &Rc<Self>) {
        let status = self.state.borrow().status;
        match status {
            // No futile attempts while offline: wait for `online`.
            ConnectionState::Reconnecting { .. } => {
                {
                    let mut state = self.state.borrow_mut();
                    state.reconnect_timer = None;
                    state.status = ConnectionState::Offline;
                }
                self.dispatch(vec![SocketEvent::State(ConnectionState::Offline)]);
            }
            ConnectionState::Open => self.beat(|hb| hb.probe(now())),
            _ => {}
        }
    }

    fn send(self: &Rc<Self>, message: Outgoing, request: Option<u64>) -> Result<(), SendError> {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        match state.status {
            ConnectionState::Closed | ConnectionState::Closing => return Err(SendError::Closed),
            ConnectionState::Open if state.queue.is_empty() && !over_high_water(state) => {
                if let Some(conn) = &state.conn {
                    send_now(&conn.ws, &message)?;
                    if let Some(id) = request
                        && let Some(pending) = state.pending.get_mut(&id)
                    {
                        pending.sent = true;
                    }
                    return Ok(());
                }
            }
            _ => {}
        }
        state.queue.push(message)?;
        state.queued_requests.push_back(request);
        Ok(())
    }

    /// Sends what was queued, in order, as far as the connection and the high-water mark allow.
    fn flush(self: &Rc<Self>) {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        let Some(ws) = state.conn.as_ref().map(|c| c.ws.clone()) else {
            return;
        };
        while !state.queue.is_empty() {
            if over_high_water(state) {
                let weak = Rc::downgrade(self);
                state.drain_timer = Some(Timeout::new(50, move || {
                    if let Some(inner) = weak.upgrade() {
                        inner.flush();
                    }
                }));
                return;
            }
            let Some(message) = state.queue.pop() else {
                break;
            };
            let request = state.queued_requests.pop_front().flatten();
            if send_now(&ws, &message).is_err() {
                state.queue.push_front(message);
                state.queued_requests.push_front(request);
                return;
            }
            if let Some(pending) = request.and_then(|id| state.pending.get_mut(&id)) {
                pending.sent = true;
            }
        }
    }

    fn request<P: Serialize + ?Sized>(
        self: &Rc<Self>,
        kind: &str,
        payload: &P,
        timeout: Duration,
    ) -> Result<oneshot::Receiver<Result<(), RequestError>>, RequestError> {
        let id = {
            let mut state = self.state.borrow_mut();
            let id = state.next_request;
            state.next_request += 1;
            id
        };
        let text = serde_json::to_string(&Envelope {
            kind,
            payload,
            id: Some(id),
        })
        .map_err(|e| SendError::Encode(e.to_string()))?;
        let (reply, rx) = oneshot::channel();
        let weak = Rc::downgrade(self);
        let timer = Timeout::new(millis(timeout), move || {
            if let Some(inner) = weak.upgrade() {
                let pending = inner.state.borrow_mut().pending.remove(&id);
                if let Some(pending) = pending {
                    let _ = pending.reply.send(Err(RequestError::Timeout(timeout)));
                }
            }
        });
        self.state.borrow_mut().pending.insert(
            id,
            Pending {
                reply,
                _timer: timer,
                sent: false,
            },
        );
        if let Err(err) = self.send(Outgoing::Text(text), Some(id)) {
            self.state.borrow_mut().pending.remove(&id);
            return Err(err.into());
        }
        Ok(rx)
    }

    fn close(self: &Rc<Self>, code: u16, reason: &str) {
        let (events, failed) = {
            let mut state = self.state.borrow_mut();
            let state = &mut *state;
            state.reconnect_timer = None;
            state.drain_timer = None;
            state.queue.clear();
            state.queued_requests.clear();
            let failed: Vec<Pending> = state.pending.drain().map(|(_, p)| p).collect();
            let open = state.conn.as_ref().is_some_and(|c| {
                let s = c.ws.ready_state();
                s == WebSocket::CONNECTING || s == WebSocket::OPEN
            });
            let events = if open {
                if let Some(conn) = &state.conn {
                    let _ = conn.ws.close_with_code_and_reason(code, reason);
                }
                state.status = ConnectionState::Closing;
                vec![SocketEvent::State(ConnectionState::Closing)]
            } else if state.status == ConnectionState::Closed {
                Vec::new()
            } else {
                state.conn = None;
                state.heartbeat = None;
                state.heartbeat_timer = None;
                state.status = ConnectionState::Closed;
                vec![SocketEvent::State(ConnectionState::Closed)]
            };
            (events, failed)
        };
        fail(failed);
        self.dispatch(events);
    }
}

fn over_high_water(state: &State) -> bool {
    match (state.options.high_water_mark, &state.conn) {
        (Some(mark), Some(conn)) => conn.ws.buffered_amount() > mark,
        _ => false,
    }
}

fn send_now(ws: &WebSocket, message: &Outgoing) -> Result<(), SendError> {
    match message {
        Outgoing::Text(text) => ws.send_with_str(text),
        Outgoing::Binary(bytes) => ws.send_with_u8_array(bytes),
    }
    .map_err(|e| SendError::Browser(js_text(&e)))
}

/// Removes the requests that went out on the connection that just ended: their acks can no
/// longer come. Requests still queued keep waiting for the next connection.
fn take_sent_requests(state: &mut State) -> Vec<Pending> {
    let sent: Vec<u64> = state
        .pending
        .iter()
        .filter(|(_, p)| p.sent)
        .map(|(id, _)| *id)
        .collect();
    sent.iter()
        .filter_map(|id| state.pending.remove(id))
        .collect()
}

fn fail(pending: Vec<Pending>) {
    for p in pending {
        let _ = p.reply.send(Err(RequestError::Closed));
    }
}
