//! `Engine`: the browser `WebSocket` made resilient, shared by the Rust and JavaScript APIs.
//!
//! [`Socket`](crate::Socket) (Rust) and the JavaScript `TetherSocket` (`js`, with the `js`
//! feature) are thin fronts over an engine each. The engine owns the browser socket, its
//! listeners and every timer, and runs the heartbeat, the reconnects, the send queue, requests and
//! rejoins. What differs between the two APIs is left to a [`Host`]: how events are delivered and
//! how an ack is read out of a text frame. Envelopes arrive already encoded.
//!
//! The engine is kept free of serde and of `core::fmt` (no `format!`, no `{:?}`): the JavaScript
//! build links only the engine and its own host, and every kilobyte there is paid by each page
//! that loads it.

use crate::{
    Backoff, CloseAction, ConnectError, ConnectionState, Heartbeat, Outgoing, SendError, SendQueue,
    SocketOptions, events::CloseInfo, heartbeat::Beat, listener::Listener, url::resolve_url,
};
use gloo_timers::callback::Timeout;
use std::{
    cell::{Ref, RefCell, RefMut},
    collections::VecDeque,
    rc::{Rc, Weak},
    time::Duration,
};
use wasm_bindgen::{JsCast, JsValue, prelude::wasm_bindgen};
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

#[wasm_bindgen]
extern "C" {
    /// The global scope: a `Window` in a page, a `WorkerGlobalScope` in a worker. Bound directly
    /// rather than through `web_sys::window()`, which probes four globals and knows no workers.
    #[derive(Clone)]
    type Global;

    #[wasm_bindgen(thread_local_v2, js_name = globalThis)]
    static GLOBAL: Global;

    /// `navigator`: a `WorkerNavigator` in a worker, which has `onLine` too.
    #[wasm_bindgen(method, getter)]
    fn navigator(this: &Global) -> Option<web_sys::Navigator>;

    /// `location`: a `WorkerLocation` in a worker, which has `href` too.
    #[wasm_bindgen(method, getter)]
    fn location(this: &Global) -> Option<web_sys::Location>;

    /// `document`, in a page only.
    #[wasm_bindgen(method, getter)]
    fn document(this: &Global) -> Option<web_sys::Document>;

    /// A `WebSocket` seen as taking any value in `send`: web-sys has one binding per type.
    #[wasm_bindgen(extends = WebSocket)]
    type AnySend;

    #[wasm_bindgen(method, catch, js_name = send)]
    fn send(this: &AnySend, data: &JsValue) -> Result<(), JsValue>;
}

/// What an engine needs from the API it runs under.
pub(crate) trait Host: Sized + 'static {
    /// A server's answer to a request, in this API's terms.
    type Ack;

    /// Delivers an event. Called with no borrow of the engine held, so it may call back in.
    fn emit(&self, event: Event<'_>);

    /// Reads the ack of a request with a numeric id out of a text frame, if the frame is one.
    fn read_ack(text: &str) -> Option<(u64, Self::Ack)>;
}

/// Something that happened, for the [`Host`] to deliver.
pub(crate) enum Event<'a> {
    /// The connection state changed.
    State(ConnectionState),
    /// A connection opened; `reconnected` for every open after the first.
    Open { reconnected: bool },
    /// A message arrived (not a heartbeat answer).
    Message {
        /// The browser's event.
        event: &'a MessageEvent,
        /// Its text, for a text frame.
        text: Option<String>,
    },
    /// The browser reported an error; a close follows.
    Error,
    /// A connection closed.
    Close(CloseInfo),
    /// A reconnect is scheduled.
    Reconnecting { attempt: u32, delay: Duration },
    /// The heartbeat got no answer in time.
    HeartbeatTimeout,
    /// The reconnect attempts ran out.
    GaveUp,
}

/// How a request ended.
pub(crate) enum Settled<A> {
    /// The server's ack arrived.
    Ack(A),
    /// No ack within the request's timeout.
    Timeout,
    /// The connection it went out on closed, or the socket was closed.
    Closed,
}

/// Called once when a request ends.
pub(crate) type Reply<A> = Box<dyn FnOnce(Settled<A>)>;

/// Asks for the URL of attempt `generation`; answered with [`Engine::open`].
pub(crate) type UrlProvider<H> = Rc<dyn Fn(&Rc<Engine<H>>, u64)>;

/// Where the URL of each attempt comes from.
pub(crate) enum UrlSource<H: Host> {
    /// Resolved once, at creation.
    Fixed(String),
    /// Asked before every attempt (e.g. to put a fresh token in the query). It answers, now or
    /// later, with [`Engine::open`] and the attempt's generation; an `Err` counts as a failed
    /// attempt.
    Provider(UrlProvider<H>),
}

// Not derived: a derive would ask for `H: Clone`.
impl<H: Host> Clone for UrlSource<H> {
    fn clone(&self) -> Self {
        match self {
            Self::Fixed(url) => Self::Fixed(url.clone()),
            Self::Provider(provider) => Self::Provider(Rc::clone(provider)),
        }
    }
}

/// Why a close was refused: the browser would throw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadClose {
    /// Not 1000 or 3000–4999.
    Code,
    /// Over 123 bytes.
    Reason,
}

/// The state machine; see the module docs.
pub(crate) struct Engine<H: Host> {
    state: RefCell<State<H>>,
    host: H,
}

struct State<H: Host> {
    url: UrlSource<H>,
    options: SocketOptions,
    // `arraybuffer` for the Rust API; the JavaScript API's `binaryType`.
    binary_type: BinaryType,
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
    queued_requests: VecDeque<Option<u64>>,
    // A few at a time: a list is smaller code than a map, and as fast at this size.
    pending: Vec<Pending<H::Ack>>,
    next_request: u64,
    rooms: Vec<Room>,
    // online, offline, visibilitychange, pageshow: kept for the engine's whole life.
    page_listeners: Vec<Listener>,
}

/// A joined room and its encoded `join`, sent again after every reconnect.
struct Room {
    name: String,
    join: Outgoing,
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
        if is_live(&self.ws) {
            let _ = self.ws.close_with_code_and_reason(1000, "");
        }
    }
}

struct Pending<A> {
    id: u64,
    reply: Reply<A>,
    _timer: Timeout,
    // Sent on the current connection (rather than still queued): its ack can only come on it.
    sent: bool,
}

/// A timer, cancelled on drop. Every timer's callback is boxed into one type, so the wasm holds
/// one copy of wasm-bindgen's closure glue instead of one per call site.
fn timer(ms: u32, callback: impl FnOnce() + 'static) -> Timeout {
    let callback: Box<dyn FnOnce()> = Box::new(callback);
    Timeout::new(ms, callback)
}

fn now() -> f64 {
    js_sys::Date::now()
}

fn is_online() -> bool {
    GLOBAL.with(|g| g.navigator().is_none_or(|n| n.on_line()))
}

/// The page's address, which relative URLs resolve against.
pub(crate) fn page_url() -> Option<String> {
    GLOBAL.with(|g| g.location().and_then(|l| l.href().ok()))
}

fn document() -> Option<web_sys::Document> {
    GLOBAL.with(Global::document)
}

fn millis(d: Duration) -> u32 {
    d.as_millis().min(u128::from(u32::MAX)) as u32
}

fn is_live(ws: &WebSocket) -> bool {
    let state = ws.ready_state();
    state == WebSocket::CONNECTING || state == WebSocket::OPEN
}

/// A JavaScript error value as text, without `core::fmt`.
pub(crate) fn js_text(value: &JsValue) -> String {
    value
        .as_string()
        .or_else(|| value.dyn_ref::<js_sys::Error>().map(|e| e.message().into()))
        .unwrap_or_else(|| "unknown error".to_owned())
}

/// Checks a close code and reason the way the browser's `WebSocket.close` does.
pub(crate) fn check_close(code: u16, reason: &str) -> Result<(), BadClose> {
    if code != 1000 && !(3000..=4999).contains(&code) {
        Err(BadClose::Code)
    } else if reason.len() > 123 {
        Err(BadClose::Reason)
    } else {
        Ok(())
    }
}

impl<H: Host> Engine<H> {
    // `try_borrow` and an abort, not `borrow`: the panic messages of `borrow` and `borrow_mut`
    // format their error, and would bring `core::fmt` into the npm package. A borrow conflict is a
    // bug here either way; on wasm, a panic aborts too.
    fn state(&self) -> Ref<'_, State<H>> {
        self.state
            .try_borrow()
            .unwrap_or_else(|_| std::process::abort())
    }

    fn state_mut(&self) -> RefMut<'_, State<H>> {
        self.state
            .try_borrow_mut()
            .unwrap_or_else(|_| std::process::abort())
    }

    /// Creates the engine and, with `options.immediate`, starts the first attempt.
    pub(crate) fn start(
        url: UrlSource<H>,
        options: SocketOptions,
        binary_type: BinaryType,
        host: H,
    ) -> Rc<Self> {
        let immediate = options.immediate;
        let engine = Rc::new(Self {
            state: RefCell::new(State {
                url,
                binary_type,
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
                queued_requests: VecDeque::new(),
                pending: Vec::new(),
                next_request: 1,
                rooms: Vec::new(),
                page_listeners: Vec::new(),
            }),
            host,
        });
        engine.state_mut().page_listeners = page_listeners(&engine);
        if immediate {
            engine.connect();
        }
        engine
    }

    /// The API this engine runs under.
    pub(crate) fn host(&self) -> &H {
        &self.host
    }

    /// Where the socket is in its life.
    pub(crate) fn status(&self) -> ConnectionState {
        self.state().status
    }

    fn with_ws<T>(&self, f: impl FnOnce(&WebSocket) -> T) -> Option<T> {
        self.state().conn.as_ref().map(|c| f(&c.ws))
    }

    /// The URL of the current connection, if there is one.
    pub(crate) fn url(&self) -> Option<String> {
        self.with_ws(WebSocket::url)
    }

    /// The subprotocol the server chose, or `""`.
    pub(crate) fn protocol(&self) -> String {
        self.with_ws(WebSocket::protocol).unwrap_or_default()
    }

    /// The current connection's browser socket.
    #[cfg(feature = "js")]
    pub(crate) fn web_socket(&self) -> Option<WebSocket> {
        self.with_ws(WebSocket::clone)
    }

    /// Bytes handed to the browser and not yet sent.
    pub(crate) fn buffered_amount(&self) -> u32 {
        self.with_ws(WebSocket::buffered_amount).unwrap_or(0)
    }

    /// Messages and bytes waiting in the send queue.
    pub(crate) fn queued(&self) -> (usize, usize) {
        let state = self.state();
        (state.queue.len(), state.queue.bytes())
    }

    /// Reconnect attempts since the counter last reset.
    pub(crate) fn attempts(&self) -> u32 {
        self.state().backoff.attempts()
    }

    /// The joined rooms.
    pub(crate) fn rooms(&self) -> Vec<String> {
        let state = self.state();
        state.rooms.iter().map(|r| r.name.clone()).collect()
    }

    /// Sets how binary messages arrive, on this connection and the next ones.
    #[cfg(feature = "js")]
    pub(crate) fn set_binary_type(&self, binary_type: BinaryType) {
        let mut state = self.state_mut();
        state.binary_type = binary_type;
        if let Some(conn) = &state.conn {
            conn.ws.set_binary_type(binary_type);
        }
    }

    /// Sends now if open, else queues for the next open.
    pub(crate) fn send(&self, message: Outgoing) -> Result<(), SendError> {
        self.send_request(message, None)
    }

    /// Remembers a room, and sends its encoded `join`; with `rejoin`, the frame is sent again
    /// after every reconnect.
    pub(crate) fn join(&self, room: &str, join: Outgoing) -> Result<(), SendError> {
        self.send(join.clone())?;
        let mut state = self.state_mut();
        if !state.rooms.iter().any(|r| r.name == room) {
            state.rooms.push(Room {
                name: room.to_owned(),
                join,
            });
        }
        Ok(())
    }

    /// Forgets a room, and sends its encoded `leave`.
    pub(crate) fn leave(&self, room: &str, leave: Outgoing) -> Result<(), SendError> {
        self.state_mut().rooms.retain(|r| r.name != room);
        self.send(leave)
    }

    /// The id for the next request; the caller encodes it into the message.
    pub(crate) fn next_request_id(&self) -> u64 {
        let mut state = self.state_mut();
        let id = state.next_request;
        state.next_request += 1;
        id
    }

    /// Sends (or queues) `message`, which carries request id `id`, and calls `reply` once its
    /// ack arrives, `timeout` passes, or the connection it went out on closes. The clock runs
    /// from now, queued or not. On `Err`, `reply` is dropped without being called.
    pub(crate) fn request(
        self: &Rc<Self>,
        id: u64,
        message: Outgoing,
        timeout: Duration,
        reply: Reply<H::Ack>,
    ) -> Result<(), SendError> {
        let weak = Rc::downgrade(self);
        let timeout_timer = timer(millis(timeout), move || {
            if let Some(engine) = weak.upgrade() {
                let pending = engine.take_pending(id);
                if let Some(pending) = pending {
                    (pending.reply)(Settled::Timeout);
                }
            }
        });
        self.state_mut().pending.push(Pending {
            id,
            reply,
            _timer: timeout_timer,
            sent: false,
        });
        let sent = self.send_request(message, Some(id));
        if sent.is_err() {
            // Dropped, not called: the caller reports the error itself.
            drop(self.take_pending(id));
        }
        sent
    }

    fn take_pending(&self, id: u64) -> Option<Pending<H::Ack>> {
        let mut state = self.state_mut();
        let index = state.pending.iter().position(|p| p.id == id)?;
        Some(state.pending.swap_remove(index))
    }

    /// Closes for good: no reconnect follows, queued sends are dropped, pending requests fail.
    /// The caller checked `code` and `reason` with [`check_close`].
    pub(crate) fn close(&self, code: u16, reason: &str) {
        let (events, failed) = {
            let mut state = self.state_mut();
            let state = &mut *state;
            state.reconnect_timer = None;
            state.drain_timer = None;
            state.queue.clear();
            state.queued_requests.clear();
            let failed = std::mem::take(&mut state.pending);
            let live = state.conn.as_ref().filter(|c| is_live(&c.ws));
            let events = if let Some(conn) = live {
                let _ = conn.ws.close_with_code_and_reason(code, reason);
                state.status = ConnectionState::Closing;
                vec![Event::State(ConnectionState::Closing)]
            } else if state.status == ConnectionState::Closed {
                Vec::new()
            } else {
                state.conn = None;
                state.heartbeat = None;
                state.heartbeat_timer = None;
                state.status = ConnectionState::Closed;
                vec![Event::State(ConnectionState::Closed)]
            };
            (events, failed)
        };
        fail(failed);
        self.emit_all(events);
    }

    /// Connects again now, starting the attempt counter over.
    pub(crate) fn reconnect(self: &Rc<Self>) {
        let failed = {
            let mut state = self.state_mut();
            state.backoff.reset();
            state.reconnect_timer = None;
            state.heartbeat = None;
            state.heartbeat_timer = None;
            state.conn = None;
            take_sent_requests(&mut state)
        };
        fail(failed);
        self.connect();
    }

    fn emit_all(&self, events: Vec<Event<'static>>) {
        for event in events {
            self.host.emit(event);
        }
    }

    /// Starts an attempt (or waits for the network when offline).
    fn connect(self: &Rc<Self>) {
        let (generation, source) = {
            let mut state = self.state_mut();
            state.reconnect_timer = None;
            state.conn = None;
            state.generation += 1;
            if !is_online() {
                state.status = ConnectionState::Offline;
                drop(state);
                self.host.emit(Event::State(ConnectionState::Offline));
                return;
            }
            state.status = ConnectionState::Connecting;
            (state.generation, state.url.clone())
        };
        self.host.emit(Event::State(ConnectionState::Connecting));
        match source {
            UrlSource::Fixed(url) => self.open(generation, Ok(url)),
            UrlSource::Provider(provider) => provider(self, generation),
        }
    }

    fn current(&self, generation: u64) -> bool {
        self.state().generation == generation
    }

    /// Creates the browser socket for attempt `generation` once its URL is known. Answers from a
    /// provider for an attempt that was since abandoned are ignored.
    pub(crate) fn open(self: &Rc<Self>, generation: u64, url: Result<String, String>) {
        // Also ignored once the user closed the socket while the provider was still answering:
        // the attempt is abandoned, though no newer one started.
        if !self.current(generation) || self.status() != ConnectionState::Connecting {
            return;
        }
        let created = url
            .and_then(|url| {
                resolve_url(&url, page_url().as_deref()).map_err(ConnectError::into_reason)
            })
            .and_then(|url| {
                let protocols = &self.state().options.protocols;
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
                self.host.emit(Event::Error);
                self.closed(CloseInfo {
                    code: 1006,
                    reason,
                    was_clean: false,
                });
                return;
            }
        };
        ws.set_binary_type(self.state().binary_type);
        let listen = |event: &'static str, handler: fn(&Rc<Self>, &web_sys::Event)| {
            let weak = Rc::downgrade(self);
            Listener::new(&ws, event, move |e| {
                if let Some(engine) = weak.upgrade()
                    && engine.current(generation)
                {
                    handler(&engine, &e);
                }
            })
        };
        let listeners = [
            listen("open", |engine, _| engine.on_open()),
            listen("message", |engine, e| engine.on_message(e.unchecked_ref())),
            listen("error", |engine, _| engine.host.emit(Event::Error)),
            listen("close", |engine, e| {
                let e: &CloseEvent = e.unchecked_ref();
                engine.closed(CloseInfo {
                    code: e.code(),
                    reason: e.reason(),
                    was_clean: e.was_clean(),
                });
            }),
        ];
        let weak = Rc::downgrade(self);
        let timeout = self.state().options.connect_timeout;
        let connect_timer = timer(millis(timeout), move || {
            if let Some(engine) = weak.upgrade()
                && engine.current(generation)
                && engine.status() == ConnectionState::Connecting
            {
                engine.state_mut().conn = None;
                engine.closed(CloseInfo {
                    code: 1006,
                    reason: "connect timeout".into(),
                    was_clean: false,
                });
            }
        });
        self.state_mut().conn = Some(Connection {
            ws,
            _listeners: listeners,
            connect_timer: Some(connect_timer),
        });
    }

    fn on_open(self: &Rc<Self>) {
        let reconnected = {
            let mut state = self.state_mut();
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
            if reconnected
                && state.options.rejoin
                && let Some(conn) = &state.conn
            {
                for room in &state.rooms {
                    let _ = send_now(&conn.ws, &room.join);
                }
            }
            reconnected
        };
        self.schedule_heartbeat();
        self.flush();
        self.emit_all(vec![
            Event::State(ConnectionState::Open),
            Event::Open { reconnected },
        ]);
    }

    fn on_message(self: &Rc<Self>, event: &MessageEvent) {
        let text = event.data().as_string();
        let is_pong = {
            let mut state = self.state_mut();
            if let Some(heartbeat) = &mut state.heartbeat {
                heartbeat.received(now());
            }
            match (&text, &state.options.heartbeat) {
                (Some(text), Some(options)) => (options.is_pong)(text),
                _ => false,
            }
        };
        if is_pong {
            return;
        }
        // A cheap look before parsing. Bytes rather than `str::contains`, whose panic paths would
        // bring `core::fmt` into the JavaScript build.
        if let Some(text) = &text
            && text.as_bytes().windows(5).any(|w| w == b"\"ack\"")
            && let Some((id, ack)) = H::read_ack(text)
            && let Some(pending) = self.take_pending(id)
        {
            (pending.reply)(Settled::Ack(ack));
        }
        self.host.emit(Event::Message { event, text });
    }

    /// A connection ended (closed, failed to open, timed out, or declared dead).
    fn closed(self: &Rc<Self>, info: CloseInfo) {
        let (events, failed) = {
            let mut state = self.state_mut();
            let state = &mut *state;
            state.conn = None;
            state.heartbeat = None;
            state.heartbeat_timer = None;
            state.drain_timer = None;
            state.backoff.closed(now());
            let failed = take_sent_requests(state);
            let by_user = matches!(
                state.status,
                ConnectionState::Closing | ConnectionState::Closed
            );
            let code = info.code;
            let mut events = vec![Event::Close(info)];
            if by_user || state.options.close_policy.action(code) == CloseAction::Stop {
                state.status = ConnectionState::Closed;
                events.push(Event::State(ConnectionState::Closed));
            } else {
                self.schedule_reconnect(state, &mut events);
            }
            (events, failed)
        };
        fail(failed);
        self.emit_all(events);
    }

    fn schedule_reconnect(self: &Rc<Self>, state: &mut State<H>, events: &mut Vec<Event<'_>>) {
        let Some((attempt, delay)) = state.backoff.next(js_sys::Math::random()) else {
            state.status = ConnectionState::Closed;
            events.push(Event::GaveUp);
            events.push(Event::State(ConnectionState::Closed));
            return;
        };
        let weak = Rc::downgrade(self);
        state.reconnect_timer = Some(timer(millis(delay), move || {
            if let Some(engine) = weak.upgrade() {
                engine.connect();
            }
        }));
        let status = ConnectionState::Reconnecting {
            attempt,
            at: (now() + delay.as_secs_f64() * 1000.0) as u64,
        };
        state.status = status;
        events.push(Event::Reconnecting { attempt, delay });
        events.push(Event::State(status));
    }

    fn schedule_heartbeat(self: &Rc<Self>) {
        let mut state = self.state_mut();
        let Some(deadline) = state.heartbeat.as_ref().map(Heartbeat::next_deadline) else {
            return;
        };
        let generation = state.generation;
        let weak = Rc::downgrade(self);
        let delay = (deadline - now()).max(0.0) as u32;
        state.heartbeat_timer = Some(timer(delay, move || {
            if let Some(engine) = weak.upgrade()
                && engine.current(generation)
            {
                engine.beat(|hb| hb.poll(now()));
            }
        }));
    }

    /// Runs the heartbeat one step and acts on what it says.
    fn beat(self: &Rc<Self>, step: impl FnOnce(&mut Heartbeat) -> Beat) {
        let beat = {
            let mut state = self.state_mut();
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
            let conn = self.state_mut().conn.take();
            if let Some(conn) = conn {
                let _ = conn
                    .ws
                    .close_with_code_and_reason(4000, "heartbeat timeout");
            }
            self.host.emit(Event::HeartbeatTimeout);
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
        match self.status() {
            ConnectionState::Open => self.beat(|hb| hb.probe(now())),
            // A background tab's timers may have been throttled past the scheduled attempt.
            ConnectionState::Reconnecting { at, .. } if now() >= at as f64 => self.connect(),
            _ => {}
        }
    }

    fn on_online(self: &Rc<Self>) {
        match self.status() {
            ConnectionState::Offline | ConnectionState::Reconnecting { .. } => {
                self.state_mut().backoff.reset();
                self.connect();
            }
            ConnectionState::Open => self.beat(|hb| hb.probe(now())),
            _ => {}
        }
    }

    fn on_offline(self: &Rc<Self>) {
        match self.status() {
            // No futile attempts while offline: wait for `online`.
            ConnectionState::Reconnecting { .. } => {
                {
                    let mut state = self.state_mut();
                    state.reconnect_timer = None;
                    state.status = ConnectionState::Offline;
                }
                self.host.emit(Event::State(ConnectionState::Offline));
            }
            ConnectionState::Open => self.beat(|hb| hb.probe(now())),
            _ => {}
        }
    }

    fn send_request(&self, message: Outgoing, request: Option<u64>) -> Result<(), SendError> {
        let mut state = self.state_mut();
        let state = &mut *state;
        match state.status {
            ConnectionState::Closed | ConnectionState::Closing => return Err(SendError::Closed),
            ConnectionState::Open if state.queue.is_empty() && !over_high_water(state) => {
                if let Some(conn) = &state.conn {
                    send_now(&conn.ws, &message)?;
                    mark_sent(state, request);
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
        let mut state = self.state_mut();
        let state = &mut *state;
        let Some(ws) = state.conn.as_ref().map(|c| c.ws.clone()) else {
            return;
        };
        while !state.queue.is_empty() {
            if over_high_water(state) {
                let weak = Rc::downgrade(self);
                state.drain_timer = Some(timer(50, move || {
                    if let Some(engine) = weak.upgrade() {
                        engine.flush();
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
            mark_sent(state, request);
        }
    }
}

/// Attaches the page-level listeners: network and visibility changes trigger an immediate check.
fn page_listeners<H: Host>(engine: &Rc<Engine<H>>) -> Vec<Listener> {
    let global: web_sys::EventTarget = GLOBAL.with(|g| g.clone().unchecked_into());
    let on = |target: &web_sys::EventTarget, event: &'static str, handler: fn(&Rc<Engine<H>>)| {
        let weak: Weak<Engine<H>> = Rc::downgrade(engine);
        Listener::new(target, event, move |_| {
            if let Some(engine) = weak.upgrade() {
                handler(&engine);
            }
        })
    };
    let mut listeners = vec![
        on(&global, "online", Engine::on_online),
        on(&global, "offline", Engine::on_offline),
        on(&global, "pageshow", Engine::on_wake),
    ];
    if let Some(page) = document() {
        listeners.push(on(&page, "visibilitychange", |engine| {
            if !document().is_none_or(|d| d.hidden()) {
                engine.on_wake();
            }
        }));
    }
    listeners
}

fn over_high_water<H: Host>(state: &State<H>) -> bool {
    match (state.options.high_water_mark, &state.conn) {
        (Some(mark), Some(conn)) => conn.ws.buffered_amount() > mark,
        _ => false,
    }
}

fn mark_sent<H: Host>(state: &mut State<H>, request: Option<u64>) {
    if let Some(id) = request
        && let Some(pending) = state.pending.iter_mut().find(|p| p.id == id)
    {
        pending.sent = true;
    }
}

fn send_now(ws: &WebSocket, message: &Outgoing) -> Result<(), SendError> {
    match message {
        Outgoing::Text(text) => ws.send_with_str(text),
        Outgoing::Binary(bytes) => ws.send_with_u8_array(bytes),
        Outgoing::Js { data, .. } => ws.unchecked_ref::<AnySend>().send(data),
    }
    .map_err(|e| SendError::Browser(js_text(&e)))
}

/// Removes the requests that went out on the connection that just ended: their acks can no
/// longer come. Requests still queued keep waiting for the next connection.
fn take_sent_requests<H: Host>(state: &mut State<H>) -> Vec<Pending<H::Ack>> {
    let (sent, waiting) = std::mem::take(&mut state.pending)
        .into_iter()
        .partition(|p| p.sent);
    state.pending = waiting;
    sent
}

fn fail<A>(pending: Vec<Pending<A>>) {
    for p in pending {
        (p.reply)(Settled::Closed);
    }
}
