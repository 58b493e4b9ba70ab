//! `Engine`: the Rust API's driver of the state machine (`machine.rs`).
//!
//! [`Socket`](crate::Socket) is a thin front over an engine. The engine owns what the browser
//! gives it: the `WebSocket` of the current attempt and its four listeners, the page's
//! `online`/`offline`/`pageshow`/`visibilitychange` listeners, and one timer. It turns their
//! events into inputs of the [`Machine`], which decides everything else, and carries out the
//! machine's [`Command`]s: connect, send, ping, join, detach, emit. It also keeps what the
//! machine only numbers: the rooms' names and the epochs' texts (under the machine's keys), and
//! the message and caller of every pending request, and asks the token provider, if any, before
//! every attempt (the token goes into the URL, and nowhere else). It reads the few fields the machine needs
//! out of the server's frames (`ack`, `message`, `joined`, `history`) with [`JsonValue`]. How
//! events are delivered is left to a [`Host`].
//!
//! The JavaScript API drives the same machine from JavaScript (`js/` and the package's
//! `tether-socket.js`), so the npm package carries neither this file nor web-sys.

use crate::{
    ConnectError, ConnectionState, HeartbeatOptions, JsonValue, Outgoing, SendError, SocketOptions,
    TokenProvider,
    envelope::join_frame,
    events::CloseInfo,
    listener::Listener,
    machine::{self, Command, Failure, Kind, Machine, MachineOptions},
    rooms::Position,
    token::Answer,
    url::{resolve_url, with_param, without_param},
};
use gloo_timers::callback::Timeout;
use std::{
    cell::{Ref, RefCell, RefMut},
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
}

/// What an engine needs from the API it runs under.
pub(crate) trait Host: Sized + 'static {
    /// Delivers an event. Called with no borrow of the engine held, so it may call back in.
    fn emit(&self, event: Event<'_>);
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
    /// The browser reported an error, or an attempt failed; a close follows.
    Error,
    /// A connection closed.
    Close(CloseInfo),
    /// A reconnect is scheduled.
    Reconnecting { attempt: u32, delay: Duration },
    /// The heartbeat got no answer in time.
    HeartbeatTimeout,
    /// The reconnect attempts ran out.
    GaveUp,
    /// The server could not send what a room missed.
    RoomNotRecovered { room: String, reason: String },
}

/// How a request ended.
pub(crate) enum Settled {
    /// The server's ack arrived: its payload.
    Ack(JsonValue),
    /// A `history` read's page arrived: its payload.
    Page(JsonValue),
    /// No ack within the request's timeout.
    Timeout,
    /// The connection it went out on closed (for a request that is not sent again), or the
    /// socket was closed.
    Closed,
}

/// Called once when a request ends.
pub(crate) type Reply = Box<dyn FnOnce(Settled)>;

/// What a request is, for the machine: a chat message or a `history` read of a room (by name)
/// is sent again after a reconnect.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// Any request.
    Plain,
    /// A chat `message` to this room; it gets a `cid`.
    Chat(&'a str),
    /// A `history` read of this room.
    History(&'a str),
}

/// Asks for the URL of attempt `attempt`; answered with [`Engine::open`].
pub(crate) type UrlProvider<H> = Rc<dyn Fn(&Rc<Engine<H>>, u32)>;

/// Where the URL of each attempt comes from.
pub(crate) enum UrlSource<H: Host> {
    /// Resolved once, at creation.
    Fixed(String),
    /// Asked before every attempt (e.g. to put a fresh token in the query). It answers, now or
    /// later, with [`Engine::open`] and the attempt's number; an `Err` counts as a failed
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

/// The driver; see the module docs.
pub(crate) struct Engine<H: Host> {
    state: RefCell<State<H>>,
    host: H,
}

struct State<H: Host> {
    machine: Machine<Outgoing>,
    url: UrlSource<H>,
    protocols: Vec<String>,
    // The ping's text and the pong test; the machine keeps the timing.
    heartbeat: Option<HeartbeatOptions>,
    conn: Option<Connection>,
    // The one timer, and the deadline it was set for.
    timer: Option<(f64, Timeout)>,
    // The text of the event the machine reports next: a close's reason (the browser's, or why
    // an attempt failed), or why a room was not recovered.
    why: String,
    // Pending requests: the message (the machine may ask for it again on a later connection)
    // and the caller. The machine keeps their deadlines.
    requests: Vec<(u64, Outgoing, Reply)>,
    // Room names under the machine's room keys.
    rooms: Vec<Option<String>>,
    // Epoch texts under the numbers the machine knows them by.
    epochs: Vec<String>,
    // The resume token to present on the next connection: the latest `connected` gave it.
    resume: Option<String>,
    // Asked before every attempt, once its URL is known.
    token: Option<TokenProvider>,
    // online, offline, pageshow, visibilitychange: kept for the engine's whole life.
    page_listeners: Vec<Listener>,
}

impl<H: Host> State<H> {
    /// The machine's key of a room, by name.
    fn room(&self, name: &str) -> Option<u32> {
        let index = self.rooms.iter().position(|r| r.as_deref() == Some(name))?;
        u32::try_from(index).ok()
    }

    fn room_name(&self, key: u32) -> Option<&str> {
        self.rooms.get(key as usize)?.as_deref()
    }

    /// The number of an epoch text: the same text, the same number.
    fn epoch(&mut self, text: String) -> u32 {
        let index = match self.epochs.iter().position(|e| *e == text) {
            Some(index) => index,
            None => {
                self.epochs.push(text);
                self.epochs.len() - 1
            }
        };
        // One epoch per room at most, and rooms are few.
        index as u32
    }

    /// A frame's `epoch` and `seq`, as the machine knows positions.
    fn position(&mut self, payload: &JsonValue) -> Option<Position> {
        let seq = payload.get("seq")?.as_u64()?;
        Some((self.epoch(payload.string("epoch")?), seq))
    }
}

/// One attempt's browser socket and its listeners, removed when it is dropped.
struct Connection {
    ws: WebSocket,
    _listeners: [Listener; 4],
}

impl Drop for Connection {
    fn drop(&mut self) {
        // The listeners are removed right after this, so no event of this socket reaches us again.
        if is_live(&self.ws) {
            let _ = self.ws.close_with_code_and_reason(1000, "");
        }
    }
}

/// The longest a JavaScript timer waits: 2^31 − 1 ms.
const MAX_TIMER_MS: f64 = 2_147_483_647.0;

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

fn is_live(ws: &WebSocket) -> bool {
    let state = ws.ready_state();
    state == WebSocket::CONNECTING || state == WebSocket::OPEN
}

/// A JavaScript error value as text.
fn js_text(value: &JsValue) -> String {
    value
        .as_string()
        .or_else(|| value.dyn_ref::<js_sys::Error>().map(|e| e.message().into()))
        .unwrap_or_else(|| "unknown error".to_owned())
}

fn send_now(ws: &WebSocket, message: &Outgoing) -> Result<(), JsValue> {
    match message {
        Outgoing::Text(text) => ws.send_with_str(text),
        Outgoing::Binary(bytes) => ws.send_with_u8_array(bytes),
    }
}

impl<H: Host> Engine<H> {
    fn state(&self) -> Ref<'_, State<H>> {
        self.state.borrow()
    }

    fn state_mut(&self) -> RefMut<'_, State<H>> {
        self.state.borrow_mut()
    }

    /// Creates the engine and, with `options.immediate`, starts the first attempt.
    pub(crate) fn start(url: UrlSource<H>, options: SocketOptions, host: H) -> Rc<Self> {
        let engine = Rc::new(Self {
            state: RefCell::new(State {
                machine: Machine::new(MachineOptions::from(&options), js_sys::Math::random()),
                url,
                protocols: options.protocols,
                heartbeat: options.heartbeat,
                conn: None,
                timer: None,
                why: String::new(),
                requests: Vec::new(),
                rooms: Vec::new(),
                epochs: Vec::new(),
                resume: options.resume_token,
                token: options.token,
                page_listeners: Vec::new(),
            }),
            host,
        });
        engine.state_mut().page_listeners = page_listeners(&engine);
        if options.immediate {
            engine.reconnect();
        }
        engine
    }

    /// The API this engine runs under.
    pub(crate) fn host(&self) -> &H {
        &self.host
    }

    /// Where the socket is in its life.
    pub(crate) fn status(&self) -> ConnectionState {
        self.state().machine.status()
    }

    fn with_ws<T>(&self, f: impl FnOnce(&WebSocket) -> T) -> Option<T> {
        self.state().conn.as_ref().map(|c| f(&c.ws))
    }

    /// The URL of the current connection, if there is one, without its token.
    pub(crate) fn url(&self) -> Option<String> {
        self.with_ws(|ws| without_param(&ws.url(), "token="))
    }

    /// Asks `token` before every attempt from now on (none: no token).
    pub(crate) fn set_token(&self, token: Option<TokenProvider>) {
        self.state_mut().token = token;
    }

    /// The subprotocol the server chose, or `""`.
    pub(crate) fn protocol(&self) -> String {
        self.with_ws(WebSocket::protocol).unwrap_or_default()
    }

    /// Bytes handed to the browser and not yet sent.
    pub(crate) fn buffered_amount(&self) -> u32 {
        self.with_ws(WebSocket::buffered_amount).unwrap_or(0)
    }

    /// Messages and bytes waiting in the send queue.
    pub(crate) fn queued(&self) -> (usize, usize) {
        self.state().machine.queued()
    }

    /// Reconnect attempts since the counter last reset.
    pub(crate) fn attempts(&self) -> u32 {
        self.state().machine.attempts()
    }

    /// The joined rooms.
    pub(crate) fn rooms(&self) -> Vec<String> {
        let state = self.state();
        state
            .machine
            .rooms()
            .filter_map(|key| state.room_name(key).map(str::to_owned))
            .collect()
    }

    /// Where the socket stands in a joined room's history: the epoch and `seq` of the last room
    /// message delivered.
    /// The resume token the next connection presents.
    pub(crate) fn resume_token(&self) -> Option<String> {
        self.state().resume.clone()
    }

    pub(crate) fn position(&self, room: &str) -> Option<(String, u64)> {
        let state = self.state();
        let (epoch, seq) = state.machine.position(state.room(room)?)?;
        Some((state.epochs.get(epoch as usize)?.clone(), seq))
    }

    /// Feeds the machine one input, then does what it asks; returns the input's answer.
    fn input<T>(self: &Rc<Self>, input: impl FnOnce(&mut Machine<Outgoing>, f64) -> T) -> T {
        let answer = input(&mut self.state_mut().machine, now());
        self.run();
        answer
    }

    /// Sends now if open, else queues for the next open.
    pub(crate) fn send(self: &Rc<Self>, message: Outgoing) -> Result<(), SendError> {
        let buffered = self.buffered_amount();
        self.input(|machine, now| machine.send(now, message, buffered))
    }

    /// Joins a room: the machine says when its `join` goes out, and with what `since`.
    pub(crate) fn join(self: &Rc<Self>, room: &str) -> Result<(), SendError> {
        {
            let mut state = self.state_mut();
            let known = state.room(room);
            let key = state.machine.join(known)? as usize;
            if state.rooms.len() <= key {
                state.rooms.resize(key + 1, None);
            }
            state.rooms[key] = Some(room.to_owned());
        }
        self.run();
        Ok(())
    }

    /// Forgets a room, and sends its encoded `leave`.
    pub(crate) fn leave(self: &Rc<Self>, room: &str, leave: Outgoing) -> Result<(), SendError> {
        {
            let mut state = self.state_mut();
            if let Some(key) = state.room(room) {
                state.machine.leave(key);
                state.rooms[key as usize] = None;
            }
        }
        self.send(leave)
    }

    /// Sends (or queues) a request: `encode` builds its text from the id and, for a chat
    /// message, the `cid` the machine gives it. `reply` is called once its ack (or page)
    /// arrives, `timeout` passes from now, or the connection it went out on closes (chat
    /// messages and `history` reads are sent again on the next connection instead). On `Err`,
    /// `reply` is dropped without being called.
    pub(crate) fn request(
        self: &Rc<Self>,
        target: Target<'_>,
        encode: impl FnOnce(u64, Option<&str>) -> Result<String, SendError>,
        timeout: Duration,
        reply: Reply,
    ) -> Result<(), SendError> {
        let buffered = self.buffered_amount();
        let sent = (|| {
            let mut state = self.state_mut();
            let kind = match target {
                Target::Plain => Kind::Plain,
                Target::Chat(room) => Kind::Chat(state.room(room)),
                // A room not joined with `join` has no key: its page cannot be told apart.
                Target::History(room) => state.room(room).map_or(Kind::Plain, Kind::History),
            };
            let id = state.machine.reserve(kind);
            let cid = matches!(kind, Kind::Chat(_))
                .then(|| format!("{}-{id}", state.machine.cid_prefix()));
            let text = encode(id, cid.as_deref())?;
            let size = text.len();
            state.machine.request(now(), id, timeout, size, buffered)?;
            state.requests.push((id, Outgoing::Text(text), reply));
            Ok(())
        })();
        self.run();
        sent
    }

    /// Closes for good: no reconnect follows, queued sends are dropped, pending requests fail.
    /// The caller checked `code` and `reason` with [`machine::check_close`].
    pub(crate) fn close(self: &Rc<Self>, code: u16, reason: &str) {
        if self.state_mut().machine.close() {
            self.with_ws(|ws| ws.close_with_code_and_reason(code, reason));
        }
        self.run();
    }

    /// Connects again now, starting the attempt counter over.
    pub(crate) fn reconnect(self: &Rc<Self>) {
        self.input(|machine, _| machine.reconnect(is_online()));
    }

    /// Attempt `attempt`'s URL is known: resolves it and adds the resume token, then asks the
    /// token provider, if there is one, for the token to add too, then creates the browser
    /// socket. Answers for an attempt that was since abandoned (a newer one started, or the
    /// socket was closed while a provider was still answering) are ignored.
    pub(crate) fn open(self: &Rc<Self>, attempt: u32, url: Result<String, String>) {
        let url = url.and_then(|url| {
            let url =
                resolve_url(&url, page_url().as_deref()).map_err(ConnectError::into_reason)?;
            Ok(match &self.state().resume {
                Some(token) => with_param(&url, "resume=", token),
                None => url,
            })
        });
        let token = self.state().token.clone();
        match (token, url) {
            (Some(provider), Ok(url)) => {
                let to: Weak<dyn Answer> = Rc::downgrade(self) as Weak<Self>;
                provider.ask(url, attempt, to);
            }
            (_, url) => self.create(attempt, url),
        }
    }

    /// Creates the browser socket for attempt `attempt` at `url`, or reports why there is none.
    fn create(self: &Rc<Self>, attempt: u32, url: Result<String, String>) {
        if !self.state_mut().machine.opening(attempt, now()) {
            return;
        }
        let created = url.and_then(|url| {
            let protocols = &self.state().protocols;
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
        match created {
            Ok(ws) => {
                ws.set_binary_type(BinaryType::Arraybuffer);
                let listeners = self.listeners(&ws);
                self.state_mut().conn = Some(Connection {
                    ws,
                    _listeners: listeners,
                });
            }
            Err(reason) => {
                let mut state = self.state_mut();
                state.why = reason;
                state.machine.failed(attempt, now());
            }
        }
        self.run();
    }

    /// The four listeners of a browser socket. No attempt check is needed: they are removed
    /// with the socket's [`Connection`] as soon as the machine lets go of it.
    fn listeners(self: &Rc<Self>, ws: &WebSocket) -> [Listener; 4] {
        let listen = |event: &'static str, handler: fn(&Rc<Self>, &web_sys::Event)| {
            let weak = Rc::downgrade(self);
            Listener::new(ws, event, move |e| {
                if let Some(engine) = weak.upgrade() {
                    handler(&engine, &e);
                }
            })
        };
        [
            listen("open", |engine, _| {
                let buffered = engine.buffered_amount();
                engine.input(|machine, now| machine.opened(now, buffered));
            }),
            listen("message", |engine, e| engine.on_message(e.unchecked_ref())),
            listen("error", |engine, _| engine.host.emit(Event::Error)),
            listen("close", |engine, e| {
                let e: &CloseEvent = e.unchecked_ref();
                engine.state_mut().why = e.reason();
                engine.input(|machine, now| machine.closed(now, e.code(), e.was_clean()));
            }),
        ]
    }

    fn on_message(self: &Rc<Self>, event: &MessageEvent) {
        let text = event.data().as_string();
        let is_pong = {
            let mut state = self.state_mut();
            state.machine.received(now());
            match (&text, &state.heartbeat) {
                (Some(text), Some(options)) => (options.is_pong)(text),
                _ => false,
            }
        };
        if is_pong {
            return;
        }
        let frame = text.as_deref().and_then(JsonValue::parse);
        let deliver = frame.is_none_or(|frame| self.read(&frame));
        if deliver {
            self.host.emit(Event::Message { event, text });
        }
        self.run();
    }

    /// Tells the machine what a server frame means to it; false if the frame must not be
    /// delivered (a room message delivered already).
    fn read(&self, frame: &JsonValue) -> bool {
        let (Some(kind), Some(payload)) = (frame.string("type"), frame.get("payload")) else {
            return true;
        };
        let mut state = self.state_mut();
        if kind == "ack" {
            // Only numeric ids are ours: the machine numbers its requests.
            let Some(id) = payload.get("id").and_then(|id| id.as_u64()) else {
                return true;
            };
            let at = state.position(&payload);
            if state.machine.ack(id, at) {
                drop(state);
                self.settle(id, Settled::Ack(payload));
            }
            return true;
        }
        if kind == "connected" {
            if let Some(token) = payload.string("resumeToken") {
                state.resume = Some(token);
            }
            return true;
        }
        let Some(room) = payload.string("roomId").and_then(|room| state.room(&room)) else {
            return true;
        };
        match kind.as_str() {
            "message" => match payload.get("seq").and_then(|seq| seq.as_u64()) {
                Some(seq) => state.machine.message(room, seq),
                None => true,
            },
            "joined" => {
                let at = state.position(&payload);
                let recovered = payload.get("recovered").and_then(|r| r.as_bool());
                state.why = payload.string("reason").unwrap_or_default();
                state.machine.joined(room, at, recovered);
                true
            }
            "history" => {
                if let Some(id) = state.machine.page(room) {
                    drop(state);
                    self.settle(id, Settled::Page(payload));
                }
                true
            }
            _ => true,
        }
    }

    /// Calls the caller of request `id`, with no borrow held.
    fn settle(&self, id: u64, settled: Settled) {
        let reply = {
            let mut state = self.state_mut();
            let index = state.requests.iter().position(|(i, ..)| *i == id);
            index.map(|index| state.requests.swap_remove(index).2)
        };
        if let Some(reply) = reply {
            reply(settled);
        }
    }

    /// Does what the machine asks, in order, then sets the timer for its next deadline. No
    /// borrow is held while an event is emitted or a request settled: both may call back in
    /// (and run this again, which carries on with the commands left, in order).
    fn run(self: &Rc<Self>) {
        loop {
            let command = self.state_mut().machine.poll();
            let Some(command) = command else {
                break;
            };
            match command {
                Command::Connect(attempt) => {
                    let source = self.state().url.clone();
                    match source {
                        UrlSource::Fixed(url) => self.open(attempt, Ok(url)),
                        UrlSource::Provider(provider) => provider(self, attempt),
                    }
                }
                Command::Detach { dead } => {
                    let conn = self.state_mut().conn.take();
                    if dead && let Some(conn) = &conn {
                        let _ = conn
                            .ws
                            .close_with_code_and_reason(4000, "heartbeat timeout");
                    }
                    // Dropping it closes it if it is still live, and removes its listeners.
                    drop(conn);
                }
                // The machine sends only while open, when the browser does not throw (a socket
                // closing underneath discards, as the browser's own `send` does).
                Command::Send(message) => {
                    self.with_ws(|ws| send_now(ws, &message));
                }
                Command::Request(id) => {
                    let state = self.state();
                    let message = state.requests.iter().find(|(i, ..)| *i == id);
                    if let (Some(conn), Some((_, message, _))) = (&state.conn, message) {
                        let _ = send_now(&conn.ws, message);
                    }
                }
                Command::Join(join) => self.send_join(join),
                Command::Ping => {
                    let state = self.state();
                    if let (Some(conn), Some(heartbeat)) = (&state.conn, &state.heartbeat) {
                        let _ = conn.ws.send_with_str(&heartbeat.ping);
                    }
                }
                Command::Settle(id, failure) => self.settle(
                    id,
                    match failure {
                        Failure::Timeout => Settled::Timeout,
                        Failure::Closed => Settled::Closed,
                    },
                ),
                Command::Emit(event) => {
                    let event = self.event(event);
                    self.host.emit(event);
                }
            }
        }
        self.arm();
    }

    fn event(&self, event: machine::Event) -> Event<'static> {
        match event {
            machine::Event::State(state) => Event::State(state),
            machine::Event::Open { reconnected } => Event::Open { reconnected },
            machine::Event::Error => Event::Error,
            machine::Event::Close {
                code,
                clean,
                reason,
            } => Event::Close(CloseInfo {
                code,
                reason: reason
                    .text()
                    .map_or_else(|| self.state().why.clone(), str::to_owned),
                was_clean: clean,
            }),
            machine::Event::Reconnecting { attempt, delay } => {
                Event::Reconnecting { attempt, delay }
            }
            machine::Event::HeartbeatTimeout => Event::HeartbeatTimeout,
            machine::Event::GaveUp => Event::GaveUp,
            machine::Event::RoomNotRecovered(key) => {
                let state = self.state();
                Event::RoomNotRecovered {
                    room: state.room_name(key).unwrap_or_default().to_owned(),
                    reason: state.why.clone(),
                }
            }
        }
    }

    /// Sends a room's `join`, with `since` or `recent` as the machine says.
    fn send_join(&self, key: u32) {
        let state = self.state();
        let Some(room) = state.room_name(key) else {
            return;
        };
        let join = state.machine.join_of(key);
        let since = join.since.and_then(|(epoch, seq)| {
            let epoch = state.epochs.get(epoch as usize)?;
            Some((epoch.as_str(), seq))
        });
        if let (Some(conn), Ok(text)) = (&state.conn, join_frame(room, since, join.recent)) {
            let _ = conn.ws.send_with_str(&text);
        }
    }

    /// Sets the timer for the machine's next deadline, unless it is set for it already.
    fn arm(self: &Rc<Self>) {
        let mut state = self.state_mut();
        let deadline = state.machine.deadline();
        if state.timer.as_ref().map(|(at, _)| *at) == deadline {
            return;
        }
        state.timer = deadline.map(|at| {
            let weak = Rc::downgrade(self);
            let delay = (at - now()).ceil().clamp(0.0, MAX_TIMER_MS) as u32;
            let timeout = Timeout::new(delay, move || {
                if let Some(engine) = weak.upgrade() {
                    // This very timer: wasm-bindgen frees a closure that is running only once
                    // it returns.
                    let _fired = engine.state_mut().timer.take();
                    let buffered = engine.buffered_amount();
                    engine.input(|machine, now| machine.tick(now, buffered));
                }
            });
            (at, timeout)
        });
    }
}

impl<H: Host> Answer for Engine<H> {
    fn answer(self: Rc<Self>, attempt: u32, url: Result<String, String>) {
        self.create(attempt, url);
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
        on(&global, "online", |engine| {
            engine.input(|machine, now| machine.network(now, true));
        }),
        on(&global, "offline", |engine| {
            engine.input(|machine, now| machine.network(now, false));
        }),
        on(&global, "pageshow", |engine| {
            engine.input(Machine::wake);
        }),
    ];
    if let Some(page) = document() {
        listeners.push(on(&page, "visibilitychange", |engine| {
            if !document().is_none_or(|d| d.hidden()) {
                engine.input(Machine::wake);
            }
        }));
    }
    listeners
}
