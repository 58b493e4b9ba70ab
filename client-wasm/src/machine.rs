//! `Machine`: the socket's state machine, with no browser in it.
//!
//! Both client APIs run the same machine: the Rust [`Socket`](crate::Socket) through `engine.rs`,
//! the JavaScript `TetherSocket` through `js/` and `tether-socket.js`. Each of those is a
//! *driver*: it owns the browser's `WebSocket`, its listeners, the page listeners and one timer,
//! and it turns what happens to them into calls on the machine (inputs), then carries out what
//! the machine asks for (a [`Command`] each, from [`Machine::poll`]) and re-arms its timer for
//! [`Machine::deadline`].
//!
//! The machine decides everything that is policy: when to connect, ping, declare a connection
//! dead, reconnect and after how long, whether a close is final, what waits in the send queue and
//! when it goes out, which requests fail when a connection ends and which are sent again, when
//! rooms are joined again and from where (`since`), which room messages are new and which a
//! replay already delivered (`rooms.rs`), and the request ids and message ids (`cid`). It never
//! touches the browser, so it runs natively in tests with a virtual clock: every input takes
//! `now`, wall-clock milliseconds. Jitter comes from a small generator seeded by the driver; the
//! seed is also the `cid` prefix.
//!
//! # Nothing said is lost
//! Every room message the server stores has a position, `(epoch, seq)`. The machine keeps, per
//! room, the position of the last room message delivered, and joins again after a reconnect with
//! `since` it: the server replays what was missed, or says it cannot (`recovered: false`: the
//! user is told with [`Event::RoomNotRecovered`], and the room starts over at the new position).
//! A message at or before the position is dropped, so a replay's overlap never shows twice.
//!
//! A chat message sent as a request carries a `cid` (the socket's random prefix and the request
//! id), and the server stores a `cid` once. So when a connection ends, such a request is not
//! failed but sent again, unchanged, on the next connection, right behind the joins (the server
//! handles a connection's frames in order, so the room is joined by then; waiting for `joined`
//! would let messages queued later overtake it). Its caller sees one answer, the server's ack
//! (`duplicate: true` if the first copy had been stored): at least once on the wire, exactly once
//! in the room. `history` reads are sent again the same way (one at a time per room: a page does
//! not say which request it answers). Other requests fail with [`Failure::Closed`] when their
//! connection ends. Every request, sent again or not, fails with [`Failure::Timeout`] once its
//! timeout has passed since it was made; the driver's `close` fails them all at once.
//!
//! # Tokens
//! A driver with a token provider asks it before every attempt ([`Command::Connect`]) and puts
//! the token in the URL (`token=`); a provider that fails fails the attempt like any other
//! ([`Machine::failed`]), which backs off. Which closes are about the token is the close policy's
//! say: 4401 (no valid token) is final, and 4419 (the token expired) is
//! [`CloseAction::Renew`]: the machine connects again at once, so the provider is asked for a
//! fresh token with no delay. Only [`RENEWALS`](crate::backoff::RENEWALS) renewals may be that
//! quick until a connection lives `min_uptime` ([`Backoff::renew`]): past them (a provider
//! handing out expired tokens, a clock that is off), a 4419 backs off like any other reconnect,
//! and so can run out of attempts.
//!
//! Why a machine and not an engine that calls the browser itself: the JavaScript build then holds
//! no JavaScript value and no closure (no closure table, no `JsValue` plumbing, no `core::fmt`
//! behind them), and the browser plumbing costs fewer bytes as JavaScript than as wasm-bindgen
//! glue. The npm package is a fraction of the size it was.
//!
//! Payloads are generic ([`Payload`]): the Rust driver queues [`Outgoing`](crate::Outgoing)
//! messages in the machine; the JavaScript driver keeps its messages itself, in the same order,
//! and the machine sees only their sizes.

use crate::prelude::*;
use crate::{
    Backoff, CloseAction, ClosePolicy, ConnectionState, Heartbeat, HeartbeatOptions, QueueOptions,
    ReconnectOptions, SendError, SendQueue, SocketOptions,
    heartbeat::Beat,
    rooms::{Join, Position, Recovered, Rooms},
    send_queue::Payload,
};
use alloc::collections::VecDeque;
use core::time::Duration;

/// What the machine needs of [`SocketOptions`]: timing and bounds only. The texts (ping, pong,
/// subprotocols) stay with the driver, which sends and matches them.
#[derive(Debug, Clone)]
pub(crate) struct MachineOptions {
    /// How long an attempt may take to open.
    pub(crate) connect_timeout: Duration,
    /// The heartbeat's interval and timeout, or `None` for no heartbeat.
    pub(crate) heartbeat: Option<(Duration, Duration)>,
    /// Reconnect timing and limits.
    pub(crate) reconnect: ReconnectOptions,
    /// Which close codes are final.
    pub(crate) close_policy: ClosePolicy,
    /// The send queue's bounds.
    pub(crate) queue: QueueOptions,
    /// Hold sends while the browser buffers more than this many bytes.
    pub(crate) high_water_mark: Option<u32>,
    /// Join rooms again after a reconnect.
    pub(crate) rejoin: bool,
    /// How many of a room's latest messages a join without `since` asks for.
    pub(crate) recent: u32,
}

/// The defaults of [`SocketOptions`], without building one (and its texts).
impl Default for MachineOptions {
    fn default() -> Self {
        Self {
            connect_timeout: SocketOptions::DEFAULT_CONNECT_TIMEOUT,
            heartbeat: Some((
                HeartbeatOptions::DEFAULT_INTERVAL,
                HeartbeatOptions::DEFAULT_TIMEOUT,
            )),
            reconnect: ReconnectOptions::default(),
            close_policy: ClosePolicy::default(),
            queue: QueueOptions::default(),
            high_water_mark: None,
            rejoin: true,
            recent: 0,
        }
    }
}

impl From<&SocketOptions> for MachineOptions {
    fn from(options: &SocketOptions) -> Self {
        Self {
            connect_timeout: options.connect_timeout,
            heartbeat: options.heartbeat.as_ref().map(|h| (h.interval, h.timeout)),
            reconnect: options.reconnect.clone(),
            close_policy: options.close_policy.clone(),
            queue: options.queue,
            high_water_mark: options.high_water_mark,
            rejoin: options.rejoin,
            recent: options.recent,
        }
    }
}

/// Something the driver must do, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Command<M> {
    /// Start attempt `n`: get its URL (at once, or from the URL function), then create the
    /// browser socket if [`Machine::opening`] agrees, or report [`Machine::failed`].
    Connect(u32),
    /// Stop listening to the current browser socket and close it if it is still connecting or
    /// open: with 4000 "heartbeat timeout" when `dead` (the heartbeat gave up on it), else 1000.
    Detach {
        /// The heartbeat declared the connection dead.
        dead: bool,
    },
    /// Send this message on the browser socket.
    Send(M),
    /// Send the message of request `id` (the driver keeps it until the request settles). It may
    /// be asked for again on a later connection.
    Request(u64),
    /// Send the heartbeat's ping.
    Ping,
    /// Send room `key`'s `join`, as [`Machine::join_of`] says.
    Join(u32),
    /// Request `id` failed; the driver rejects it.
    Settle(u64, Failure),
    /// Tell the user.
    Emit(Event),
}

/// Something to tell the user. Messages are not among them: the driver delivers those itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Event {
    /// The connection state changed.
    State(ConnectionState),
    /// A connection opened; `reconnected` for every open after the first.
    Open {
        /// An earlier connection of this socket was open before.
        reconnected: bool,
    },
    /// An attempt failed before it had a browser socket (a close follows).
    Error,
    /// A connection ended.
    Close {
        /// The close code.
        code: u16,
        /// Whether the closing handshake completed.
        clean: bool,
        /// Where the close reason comes from.
        reason: Reason,
    },
    /// A reconnect is scheduled.
    Reconnecting {
        /// 1 for the first attempt after a close, 2 for the next, ...
        attempt: u32,
        /// The delay before it, jitter included.
        delay: Duration,
    },
    /// The heartbeat got no answer in time.
    HeartbeatTimeout,
    /// The reconnect attempts ran out (a `State(Closed)` follows).
    GaveUp,
    /// The server could not send the messages of this room missed while disconnected (the
    /// driver keeps the reason from the `joined` it got).
    RoomNotRecovered(u32),
}

/// Where a close event's reason comes from. The machine holds no text: the driver keeps the
/// browser's reason (or the failure's) from the input that reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Reason {
    /// The browser's `CloseEvent`, given with [`Machine::closed`].
    Browser = 0,
    /// The failure given with [`Machine::failed`] (a URL that cannot be used, say).
    Failed = 1,
    /// "connect timeout": the attempt did not open in time.
    ConnectTimeout = 2,
    /// "heartbeat timeout": nothing arrived after a ping.
    HeartbeatTimeout = 3,
}

impl Reason {
    /// The text for a reason the machine made up, `None` for one the driver holds. (The
    /// JavaScript driver has its own table, checked against this by a test.)
    #[cfg(any(feature = "socket", test))]
    pub(crate) fn text(self) -> Option<&'static str> {
        match self {
            Self::Browser | Self::Failed => None,
            Self::ConnectTimeout => Some("connect timeout"),
            Self::HeartbeatTimeout => Some("heartbeat timeout"),
        }
    }
}

/// Why a request failed (its ack is reported by [`Machine::ack`] instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Failure {
    /// No ack within its timeout.
    Timeout = 1,
    /// The connection it went out on closed, or the socket was closed.
    Closed = 2,
}

/// Why a close was refused: the browser would throw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadClose {
    /// Not 1000 or 3000–4999.
    Code,
    /// Over 123 bytes.
    Reason,
}

/// Checks a close code and the UTF-8 length of a reason the way `WebSocket.close` does.
pub(crate) fn check_close(code: u16, reason_bytes: usize) -> Result<(), BadClose> {
    if code != 1000 && !(3000..=4999).contains(&code) {
        Err(BadClose::Code)
    } else if reason_bytes > 123 {
        Err(BadClose::Reason)
    } else {
        Ok(())
    }
}

/// Something in the send queue: a message, or a request of `size` bytes that the driver holds.
#[derive(Debug)]
enum Queued<M> {
    Message(M),
    Request { id: u64, size: usize },
}

impl<M: Payload> Payload for Queued<M> {
    fn size(&self) -> usize {
        match self {
            Self::Message(message) => message.size(),
            Self::Request { size, .. } => *size,
        }
    }
}

/// What a request is, which decides what happens to it when its connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Any request: it fails with [`Failure::Closed`] when its connection ends.
    Plain,
    /// A chat `message` with a `cid`, to room `key` if the socket joined it: sent again.
    Chat(Option<u32>),
    /// A `history` read of room `key`: sent again; one at a time per room, since a page does
    /// not say which read it answers.
    History(u32),
}

/// Where a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// In the send queue.
    Queued,
    /// Sent on the current connection: its answer can only come on that connection.
    Sent,
    /// To be sent again, by id, at the next open.
    Waiting,
}

/// A request waiting for its ack.
#[derive(Debug, Clone, Copy)]
struct Pending {
    id: u64,
    /// When it times out (wall-clock milliseconds).
    deadline: f64,
    kind: Kind,
    progress: Progress,
}

/// Whether `p` is a `history` read of `room`.
fn reads(p: &Pending, room: u32) -> bool {
    matches!(p.kind, Kind::History(r) if r == room)
}

/// How often a send queue held back by the high-water mark looks at the browser's buffer again.
const DRAIN_MS: f64 = 50.0;

/// The state machine; see the module docs.
#[derive(Debug)]
pub(crate) struct Machine<M> {
    options: MachineOptions,
    status: ConnectionState,
    // Counts attempts, so that answers for an abandoned attempt are ignored.
    attempt: u32,
    // The driver holds a browser socket of the current attempt.
    connected: bool,
    // As the page last said (`navigator.onLine`, then `online`/`offline` events).
    online: bool,
    opened_before: bool,
    backoff: Backoff,
    heartbeat: Option<Heartbeat>,
    connect_deadline: Option<f64>,
    drain_at: Option<f64>,
    queue: SendQueue<Queued<M>>,
    // A few at a time: a list is smaller code than a map, and as fast at this size. In the
    // order made, which is the order they are sent again in.
    pending: Vec<Pending>,
    rooms: Rooms,
    // The id of the next request; ids are never reused.
    next_request: u64,
    // The id handed out by `reserve`, and what it is for.
    reserved: Option<(u64, Kind)>,
    // The random part of every `cid`, drawn once.
    cid: u64,
    // xorshift64 state, for jitter.
    seed: u64,
    out: VecDeque<Command<M>>,
}

impl<M: Payload> Machine<M> {
    /// A closed machine: [`reconnect`](Self::reconnect) starts it. `seed` in `[0, 1)` (a
    /// `Math.random()`) seeds the jitter.
    pub(crate) fn new(options: MachineOptions, seed: f64) -> Self {
        // 53 random bits: a JavaScript number holds them exactly.
        let seed = (seed * 9_007_199_254_740_992.0) as u64;
        Self {
            backoff: Backoff::new(options.reconnect.clone()),
            queue: SendQueue::new(options.queue),
            options,
            status: ConnectionState::Closed,
            attempt: 0,
            connected: false,
            online: true,
            opened_before: false,
            heartbeat: None,
            connect_deadline: None,
            drain_at: None,
            pending: Vec::new(),
            rooms: Rooms::default(),
            next_request: 1,
            reserved: None,
            // The seed is random, and unique enough to tell this socket's messages apart.
            cid: seed,
            // Never zero: xorshift would stay there.
            seed: seed | 1,
            out: VecDeque::new(),
        }
    }

    /// The random prefix of this socket's `cid`s: a message's `cid` is this prefix and its
    /// request id, in decimal, joined by `-` (`4017…-7`).
    pub(crate) fn cid_prefix(&self) -> u64 {
        self.cid
    }

    /// The room's position: the epoch (as the driver numbers it) and `seq` of the last room
    /// message delivered.
    #[cfg(any(feature = "socket", test))]
    pub(crate) fn position(&self, room: u32) -> Option<Position> {
        self.rooms.position(room)
    }

    /// The keys of the joined rooms.
    #[cfg(feature = "socket")]
    pub(crate) fn rooms(&self) -> impl Iterator<Item = u32> + '_ {
        self.rooms.keys()
    }

    /// Reconnects after close code `code` if `reconnect`, else stays closed. For the JavaScript
    /// options `reconnectOn` and `stopOn`, which arrive one code at a time.
    #[cfg_attr(not(feature = "js"), allow(dead_code))]
    pub(crate) fn close_policy(&mut self, code: u16, reconnect: bool) {
        let policy = core::mem::take(&mut self.options.close_policy);
        self.options.close_policy = if reconnect {
            policy.reconnect_on(code)
        } else {
            policy.stop_on(code)
        };
    }

    /// Where the socket is in its life.
    pub(crate) fn status(&self) -> ConnectionState {
        self.status
    }

    /// Reconnect attempts since the counter last reset.
    #[cfg(feature = "socket")]
    pub(crate) fn attempts(&self) -> u32 {
        self.backoff.attempts()
    }

    /// Messages and bytes waiting in the send queue.
    pub(crate) fn queued(&self) -> (usize, usize) {
        (self.queue.len(), self.queue.bytes())
    }

    /// The next thing the driver must do.
    pub(crate) fn poll(&mut self) -> Option<Command<M>> {
        self.out.pop_front()
    }

    /// When the driver's timer must call [`tick`](Self::tick) next, if at all.
    pub(crate) fn deadline(&self) -> Option<f64> {
        let (first, second) = match self.status {
            // Closing too: an attempt closed before it opened keeps its deadline (see `close`).
            ConnectionState::Connecting | ConnectionState::Closing => (self.connect_deadline, None),
            ConnectionState::Open => (
                self.heartbeat.as_ref().map(Heartbeat::next_deadline),
                self.drain_at,
            ),
            ConnectionState::Reconnecting { at, .. } => (Some(at as f64), None),
            _ => (None, None),
        };
        first
            .into_iter()
            .chain(second)
            .chain(self.pending.iter().map(|p| p.deadline))
            .reduce(f64::min)
    }

    // ---- Inputs from the driver.

    /// Connects now, starting the attempt counter over: at creation (unless not `immediate`),
    /// after a close or after giving up, or to replace a connection that looks stuck. `online`
    /// is `navigator.onLine`: while closed, the page's events were not listened to.
    pub(crate) fn reconnect(&mut self, online: bool) {
        self.online = online;
        self.backoff.reset();
        self.fail_sent();
        self.rooms.lost();
        self.connect();
    }

    /// The URL of attempt `attempt` is known. True if the driver should create its browser
    /// socket now; false if the attempt was abandoned meanwhile (a newer one started, or the
    /// socket was closed).
    pub(crate) fn opening(&mut self, attempt: u32, now: f64) -> bool {
        if attempt != self.attempt || self.status != ConnectionState::Connecting || self.connected {
            return false;
        }
        self.connected = true;
        self.connect_deadline = Some(now + millis(self.options.connect_timeout));
        true
    }

    /// Attempt `attempt` failed before it had a browser socket: its URL function failed, its
    /// URL cannot be a WebSocket URL, or the browser refused to create the socket. The driver
    /// keeps the reason ([`Reason::Failed`]).
    pub(crate) fn failed(&mut self, attempt: u32, now: f64) {
        if attempt == self.attempt && self.status == ConnectionState::Connecting {
            self.emit(Event::Error);
            self.end(now, 1006, false, Reason::Failed);
        }
    }

    /// The browser socket opened; `buffered` is its `bufferedAmount`.
    pub(crate) fn opened(&mut self, now: f64, buffered: u32) {
        if self.status != ConnectionState::Connecting || !self.connected {
            return;
        }
        self.status = ConnectionState::Open;
        self.connect_deadline = None;
        self.backoff.opened(now);
        self.heartbeat = self
            .options
            .heartbeat
            .map(|(interval, timeout)| Heartbeat::with_timing(interval, timeout, now));
        let reconnected = self.opened_before;
        self.opened_before = true;
        // Rooms first, so that messages to a room arrive after its `join`; then what the last
        // connection left unanswered, which is older than anything queued.
        // (Loops rather than iterators collected or extended: smaller code in the npm build.)
        for key in 0..self.rooms.len() {
            if self.rooms.due(key, self.options.rejoin) {
                self.out.push_back(Command::Join(key));
            }
        }
        for p in &mut self.pending {
            if p.progress == Progress::Waiting {
                p.progress = Progress::Sent;
                self.out.push_back(Command::Request(p.id));
            }
        }
        self.flush(now, buffered);
        self.emit(Event::State(ConnectionState::Open));
        self.emit(Event::Open { reconnected });
    }

    /// A message arrived: the connection is alive.
    pub(crate) fn received(&mut self, now: f64) {
        if let Some(heartbeat) = &mut self.heartbeat {
            heartbeat.received(now);
        }
    }

    /// An ack for request `id` arrived; `at` is the position it gives (`epoch` as the driver
    /// numbers it, and `seq`), if any. True if the request was waiting for it (the driver then
    /// resolves it); false for an ack of nothing pending (a late one, or another client's id).
    pub(crate) fn ack(&mut self, id: u64, at: Option<Position>) -> bool {
        let Some(pending) = self.settle(self.pending.iter().find(|p| p.id == id).copied()) else {
            return false;
        };
        if let (Kind::Chat(Some(room)), Some(at)) = (pending.kind, at) {
            self.rooms.own(room, at);
        }
        true
    }

    // ---- Rooms.

    /// Joins a room: `room` if the socket joined it before (the driver found its name under
    /// that key), else a new one. Returns the room's key, under which the driver keeps its name.
    /// The `join` goes out now if open ([`Command::Join`]), else at the next open.
    pub(crate) fn join(&mut self, room: Option<u32>) -> Result<u32, SendError> {
        if matches!(
            self.status,
            ConnectionState::Closed | ConnectionState::Closing
        ) {
            return Err(SendError::Closed);
        }
        let (room, send) = self.rooms.join(room, self.status == ConnectionState::Open);
        if send {
            self.out.push_back(Command::Join(room));
        }
        Ok(room)
    }

    /// What room `room`'s `join` carries, for the driver to send it ([`Command::Join`]): `since`
    /// the room's position once it has one, else `recent`.
    pub(crate) fn join_of(&self, room: u32) -> Join {
        self.rooms.join_of(room, self.options.recent)
    }

    /// Forgets a room (the driver sends its `leave`). Its requests still pending are left to
    /// their answers (a refusal, or a page the driver no longer matches to a room) or timeouts.
    pub(crate) fn leave(&mut self, room: u32) {
        self.rooms.leave(room);
    }

    /// The server answered the room's `join`: `at` is its epoch and `seq` if it keeps history,
    /// `recovered` what `joined` says of a join with `since`.
    pub(crate) fn joined(&mut self, room: u32, at: Option<Position>, recovered: Option<bool>) {
        let recovered = match recovered {
            None => Recovered::Fresh,
            Some(true) => Recovered::Yes,
            Some(false) => Recovered::No,
        };
        if self.rooms.joined(room, at, recovered) {
            self.emit(Event::RoomNotRecovered(room));
        }
    }

    /// A room message with `seq` arrived in the room: true to deliver it, false to drop it (it
    /// was delivered already).
    pub(crate) fn message(&mut self, room: u32, seq: u64) -> bool {
        self.rooms.message(room, seq)
    }

    /// A `history` page of the room arrived: the id of the request it answers, which is settled
    /// (the driver resolves it with the page; the ack that follows is one of nothing pending).
    pub(crate) fn page(&mut self, room: u32) -> Option<u64> {
        let sent = self
            .pending
            .iter()
            .find(|p| reads(p, room) && p.progress == Progress::Sent)
            .copied();
        Some(self.settle(sent)?.id)
    }

    /// The browser socket closed with `code`; the driver keeps its reason ([`Reason::Browser`]).
    pub(crate) fn closed(&mut self, now: f64, code: u16, clean: bool) {
        if self.connected {
            self.end(now, code, clean, Reason::Browser);
        }
    }

    /// The driver's timer fired. `buffered` is the browser socket's `bufferedAmount`.
    pub(crate) fn tick(&mut self, now: f64, buffered: u32) {
        match self.status {
            ConnectionState::Connecting | ConnectionState::Closing
                if self.connect_deadline.is_some_and(|d| now >= d) =>
            {
                self.end(now, 1006, false, Reason::ConnectTimeout);
            }
            ConnectionState::Open => {
                // A heartbeat judges by the clock: asked early, it says to wait.
                self.beat(now, |heartbeat| heartbeat.poll(now));
                if self.drain_at.is_some_and(|d| now >= d) {
                    self.drain_at = None;
                    self.flush(now, buffered);
                }
            }
            ConnectionState::Reconnecting { at, .. } if now >= at as f64 => self.connect(),
            _ => {}
        }
        while let Some(p) = self.settle(self.pending.iter().find(|p| now >= p.deadline).copied()) {
            self.out.push_back(Command::Settle(p.id, Failure::Timeout));
        }
    }

    /// The page was shown again (`pageshow`, `visibilitychange` to visible): after a sleep the
    /// socket may say open and be dead, and a throttled background tab may have let the time of
    /// a scheduled attempt pass.
    pub(crate) fn wake(&mut self, now: f64) {
        match self.status {
            ConnectionState::Open => self.beat(now, |heartbeat| heartbeat.probe(now)),
            ConnectionState::Reconnecting { at, .. } if now >= at as f64 => self.connect(),
            _ => {}
        }
    }

    /// The network came back (`online`) or went away (`offline`).
    pub(crate) fn network(&mut self, now: f64, online: bool) {
        self.online = online;
        match self.status {
            ConnectionState::Open => self.beat(now, |heartbeat| heartbeat.probe(now)),
            ConnectionState::Offline | ConnectionState::Reconnecting { .. } if online => {
                self.backoff.reset();
                self.connect();
            }
            // No futile attempts while offline: wait for `online`.
            ConnectionState::Reconnecting { .. } => self.set_status(ConnectionState::Offline),
            _ => {}
        }
    }

    /// Sends `message` now if open (a [`Command::Send`] follows), else queues it for the next
    /// open, or, while the browser buffers more than the high-water mark, for its buffer to
    /// drain. `buffered` is the browser socket's `bufferedAmount` (0 without one).
    pub(crate) fn send(&mut self, now: f64, message: M, buffered: u32) -> Result<(), SendError> {
        self.submit(now, Queued::Message(message), buffered)
    }

    /// The id of the next request, which is of this kind: the driver puts it (and for a chat
    /// message the `cid` made of it) into the message, then makes the request with
    /// [`request`](Self::request).
    pub(crate) fn reserve(&mut self, kind: Kind) -> u64 {
        let id = self.next_request;
        self.next_request += 1;
        self.reserved = Some((id, kind));
        id
    }

    /// Sends (or queues) request `id` (from [`reserve`](Self::reserve)), whose message of `size`
    /// bytes the driver holds until it settles, and waits `timeout` for its ack:
    /// [`ack`](Self::ack) (or [`page`](Self::page)) reports it, a [`Command::Settle`] the
    /// failure. The clock runs from now, queued, waiting or sent again. On `Err`, the request is
    /// forgotten.
    pub(crate) fn request(
        &mut self,
        now: f64,
        id: u64,
        timeout: Duration,
        size: usize,
        buffered: u32,
    ) -> Result<(), SendError> {
        let kind = match self.reserved.take() {
            Some((reserved, kind)) if reserved == id => kind,
            _ => Kind::Plain,
        };
        // A page names no request: one read per room at a time.
        if let Kind::History(room) = kind
            && self.pending.iter().any(|p| reads(p, room))
        {
            return Err(SendError::HistoryPending);
        }
        self.pending.push(Pending {
            id,
            deadline: now + millis(timeout),
            kind,
            progress: Progress::Queued,
        });
        let sent = self.submit(now, Queued::Request { id, size }, buffered);
        if sent.is_err() {
            self.pending.pop();
        }
        sent
    }

    /// Closes for good: no reconnect follows, queued sends are dropped, pending requests fail.
    /// True if the driver must now close its browser socket (with the user's code and reason,
    /// checked with [`check_close`]); its close event then ends the connection as usual, or, for
    /// an attempt that never opened, the attempt's connect deadline does.
    pub(crate) fn close(&mut self) -> bool {
        self.queue.clear();
        self.drain_at = None;
        self.reserved = None;
        let out = &mut self.out;
        for p in self.pending.drain(..) {
            out.push_back(Command::Settle(p.id, Failure::Closed));
        }
        match self.status {
            // Already on its way; a second close changes nothing, as with `WebSocket`.
            ConnectionState::Closing | ConnectionState::Closed => false,
            ConnectionState::Connecting | ConnectionState::Open if self.connected => {
                self.heartbeat = None;
                // An attempt's connect deadline keeps running: WebKit fails a connection it
                // refuses itself (a blocked port, a CSP or mixed-content block) with an error
                // event and no close event, so the close this waits for may never come.
                self.set_status(ConnectionState::Closing);
                true
            }
            _ => {
                self.set_status(ConnectionState::Closed);
                false
            }
        }
    }

    // ---- The machine's own steps.

    fn emit(&mut self, event: Event) {
        self.out.push_back(Command::Emit(event));
    }

    fn set_status(&mut self, status: ConnectionState) {
        self.status = status;
        self.emit(Event::State(status));
    }

    /// Lets go of the current browser socket, if any.
    fn detach(&mut self, dead: bool) {
        if self.connected {
            self.connected = false;
            self.out.push_back(Command::Detach { dead });
        }
        self.heartbeat = None;
        self.connect_deadline = None;
        self.drain_at = None;
    }

    /// Starts an attempt (or waits for the network when offline).
    fn connect(&mut self) {
        self.detach(false);
        self.attempt = self.attempt.wrapping_add(1);
        if !self.online {
            self.set_status(ConnectionState::Offline);
            return;
        }
        self.set_status(ConnectionState::Connecting);
        self.out.push_back(Command::Connect(self.attempt));
    }

    /// A connection ended (closed, failed to open, timed out, or declared dead).
    fn end(&mut self, now: f64, code: u16, clean: bool, reason: Reason) {
        self.detach(false);
        self.backoff.closed(now);
        self.fail_sent();
        self.rooms.lost();
        let by_user = matches!(
            self.status,
            ConnectionState::Closing | ConnectionState::Closed
        );
        self.emit(Event::Close {
            code,
            clean,
            reason,
        });
        let action = self.options.close_policy.action(code);
        if by_user || action == CloseAction::Stop {
            self.set_status(ConnectionState::Closed);
            return;
        }
        // An expired token: straight back, with a fresh one (the driver asks its provider before
        // every attempt); the backoff says how often in a row.
        if action == CloseAction::Renew && self.backoff.renew() {
            self.connect();
            return;
        }
        let random = self.random();
        match self.backoff.next(random) {
            Some((attempt, delay)) => {
                self.emit(Event::Reconnecting { attempt, delay });
                self.set_status(ConnectionState::Reconnecting {
                    attempt,
                    at: (now + millis(delay)) as u64,
                });
            }
            None => {
                self.emit(Event::GaveUp);
                self.set_status(ConnectionState::Closed);
            }
        }
    }

    /// Runs the heartbeat one step and acts on what it says.
    fn beat(&mut self, now: f64, step: impl FnOnce(&mut Heartbeat) -> Beat) {
        let Some(heartbeat) = &mut self.heartbeat else {
            return;
        };
        match step(heartbeat) {
            Beat::Wait => {}
            Beat::Ping => self.out.push_back(Command::Ping),
            Beat::Dead => {
                // The socket may say open after a sleep or a network change; don't wait for a
                // close handshake that will never complete.
                self.detach(true);
                self.emit(Event::HeartbeatTimeout);
                self.end(now, 1006, false, Reason::HeartbeatTimeout);
            }
        }
    }

    fn over_high_water(&self, buffered: u32) -> bool {
        self.options
            .high_water_mark
            .is_some_and(|mark| buffered > mark)
    }

    fn submit(&mut self, now: f64, queued: Queued<M>, buffered: u32) -> Result<(), SendError> {
        match self.status {
            ConnectionState::Closed | ConnectionState::Closing => return Err(SendError::Closed),
            ConnectionState::Open if self.queue.is_empty() && !self.over_high_water(buffered) => {
                self.put(queued);
                return Ok(());
            }
            // Held back while open: look at the browser's buffer again soon, or it would wait
            // for the next connection.
            ConnectionState::Open => {
                self.drain_at.get_or_insert(now + DRAIN_MS);
            }
            _ => {}
        }
        self.queue.push(queued)
    }

    /// Sends what came out of the queue (or did not need to wait in it).
    fn put(&mut self, queued: Queued<M>) {
        match queued {
            Queued::Message(message) => self.out.push_back(Command::Send(message)),
            // A request that settled while queued (it timed out) is not sent at all.
            Queued::Request { id, .. } => self.send_request(id),
        }
    }

    /// Sends pending request `id`, if it is still pending.
    fn send_request(&mut self, id: u64) {
        if let Some(p) = self.pending.iter_mut().find(|p| p.id == id) {
            p.progress = Progress::Sent;
            self.out.push_back(Command::Request(id));
        }
    }

    /// Removes pending request `p` (found by the caller).
    fn settle(&mut self, p: Option<Pending>) -> Option<Pending> {
        let p = p?;
        // Not `Vec::remove`: its bounds check's panic would bring `core::fmt`'s integer
        // formatting into the npm build.
        self.pending.retain(|q| q.id != p.id);
        Some(p)
    }

    /// Sends what was queued, in order, as far as the high-water mark allows. `buffered` grows
    /// by each message sent: the browser's own count would, had the sends already happened.
    fn flush(&mut self, now: f64, mut buffered: u32) {
        while !self.queue.is_empty() {
            if self.over_high_water(buffered) {
                self.drain_at = Some(now + DRAIN_MS);
                return;
            }
            let Some(queued) = self.queue.pop() else {
                break;
            };
            buffered = buffered.saturating_add(queued.size().try_into().unwrap_or(u32::MAX));
            self.put(queued);
        }
    }

    /// The connection the sent requests went out on ended: their acks can no longer come. Chat
    /// messages and `history` reads wait to be sent again; the others fail. Requests still
    /// queued keep waiting for the next connection.
    fn fail_sent(&mut self) {
        let out = &mut self.out;
        self.pending.retain_mut(|p| {
            if p.progress != Progress::Sent {
                return true;
            }
            if matches!(p.kind, Kind::Plain) {
                out.push_back(Command::Settle(p.id, Failure::Closed));
                return false;
            }
            p.progress = Progress::Waiting;
            true
        });
    }

    /// Uniform in `[0, 1)`: xorshift64, good enough to spread reconnects.
    fn random(&mut self) -> f64 {
        let mut x = self.seed;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed = x;
        (x >> 11) as f64 / 9_007_199_254_740_992.0
    }
}

/// Milliseconds, as the clock counts them.
fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outgoing;

    fn text(s: &str) -> Outgoing {
        Outgoing::Text(s.to_owned())
    }

    fn machine(options: SocketOptions) -> Machine<Outgoing> {
        let mut m = Machine::new(MachineOptions::from(&options), 0.5);
        m.reconnect(true);
        m
    }

    fn fast() -> SocketOptions {
        SocketOptions::default().reconnect(
            ReconnectOptions::default()
                .initial_delay(Duration::from_millis(100))
                .factor(2.0)
                .jitter(0.0)
                .max_attempts(Some(3)),
        )
    }

    fn drain(m: &mut Machine<Outgoing>) -> Vec<Command<Outgoing>> {
        std::iter::from_fn(|| m.poll()).collect()
    }

    fn state(s: ConnectionState) -> Command<Outgoing> {
        Command::Emit(Event::State(s))
    }

    /// Starts, opens attempt 1 at `now`, and drops the commands so far.
    fn open(options: SocketOptions, now: f64) -> Machine<Outgoing> {
        let mut m = machine(options);
        assert!(m.opening(1, now));
        m.opened(now, 0);
        drain(&mut m);
        m
    }

    #[test]
    fn connects_and_opens() {
        let mut m = machine(SocketOptions::default());
        assert_eq!(
            drain(&mut m),
            [state(ConnectionState::Connecting), Command::Connect(1)]
        );
        assert!(m.opening(1, 0.0));
        assert!(!m.opening(1, 0.0), "one socket per attempt");
        assert_eq!(m.deadline(), Some(10_000.0), "the connect timeout");
        m.opened(5.0, 0);
        assert_eq!(
            drain(&mut m),
            [
                state(ConnectionState::Open),
                Command::Emit(Event::Open { reconnected: false })
            ]
        );
        assert_eq!(m.deadline(), Some(25_005.0), "the heartbeat");
    }

    #[test]
    fn queues_until_open_then_flushes_in_order() {
        let mut m = machine(SocketOptions::default());
        m.send(0.0, text("a"), 0).unwrap();
        m.send(0.0, text("bb"), 0).unwrap();
        assert_eq!(m.queued(), (2, 3));
        assert!(m.opening(1, 0.0));
        drain(&mut m);
        m.opened(0.0, 0);
        let sends: Vec<_> = drain(&mut m)
            .into_iter()
            .filter(|c| matches!(c, Command::Send(_)))
            .collect();
        assert_eq!(sends, [Command::Send(text("a")), Command::Send(text("bb"))]);
        m.send(0.0, text("c"), 0).unwrap();
        assert_eq!(drain(&mut m), [Command::Send(text("c"))]);
    }

    #[test]
    fn a_full_queue_and_a_closed_socket_refuse() {
        let mut m =
            machine(SocketOptions::default().queue(QueueOptions::default().max_messages(1)));
        m.send(0.0, text("a"), 0).unwrap();
        assert!(matches!(
            m.send(0.0, text("b"), 0),
            Err(SendError::QueueFull { .. })
        ));
        m.close();
        assert_eq!(m.send(0.0, text("c"), 0), Err(SendError::Closed));
        assert_eq!(m.queued(), (0, 0));
    }

    #[test]
    fn the_high_water_mark_holds_sends_and_drains_later() {
        let mut m = open(SocketOptions::default().high_water_mark(Some(10)), 0.0);
        m.send(0.0, text("now"), 5).unwrap();
        m.send(0.0, text("held"), 11).unwrap();
        m.send(0.0, text("behind"), 0).unwrap();
        assert_eq!(drain(&mut m), [Command::Send(text("now"))]);
        assert_eq!(m.queued().0, 2);
        assert_eq!(m.deadline(), Some(50.0), "a look at the buffer in 50 ms");
        m.tick(50.0, 11);
        assert!(drain(&mut m).is_empty(), "still over the mark");
        assert_eq!(m.deadline(), Some(100.0));
        m.tick(100.0, 8);
        // 8 + 4 bytes of "held" is over 10: "behind" waits for the next look.
        assert_eq!(drain(&mut m), [Command::Send(text("held"))]);
        m.tick(150.0, 0);
        assert_eq!(drain(&mut m), [Command::Send(text("behind"))]);
    }

    #[test]
    fn an_unexpected_close_reconnects_with_backoff_then_gives_up() {
        let mut m = open(fast(), 0.0);
        m.closed(1000.0, 1006, false);
        assert_eq!(
            drain(&mut m),
            [
                Command::Detach { dead: false },
                Command::Emit(Event::Close {
                    code: 1006,
                    clean: false,
                    reason: Reason::Browser
                }),
                Command::Emit(Event::Reconnecting {
                    attempt: 1,
                    delay: Duration::from_millis(100)
                }),
                state(ConnectionState::Reconnecting {
                    attempt: 1,
                    at: 1100
                }),
            ]
        );
        assert_eq!(m.deadline(), Some(1100.0));
        m.tick(1099.0, 0);
        assert!(drain(&mut m).is_empty(), "an early timer changes nothing");
        let mut delays = vec![];
        let mut now = 1100.0;
        loop {
            m.tick(now, 0);
            let attempt = match drain(&mut m).last() {
                Some(Command::Connect(n)) => *n,
                other => panic!("{other:?}"),
            };
            m.failed(attempt, now);
            let commands = drain(&mut m);
            assert_eq!(commands[0], Command::Emit(Event::Error));
            match commands.iter().find_map(|c| match c {
                Command::Emit(Event::Reconnecting { delay, .. }) => Some(*delay),
                _ => None,
            }) {
                Some(delay) => {
                    delays.push(delay.as_millis());
                    now += delay.as_secs_f64() * 1000.0;
                }
                None => {
                    assert!(commands.contains(&Command::Emit(Event::GaveUp)));
                    break;
                }
            }
        }
        assert_eq!(delays, [200, 400], "attempts 2 and 3, then out of attempts");
        assert_eq!(m.status(), ConnectionState::Closed);
    }

    #[test]
    fn a_final_code_or_the_users_close_does_not_reconnect() {
        let mut m = open(fast(), 0.0);
        m.closed(10.0, 1008, true);
        assert_eq!(drain(&mut m).last(), Some(&state(ConnectionState::Closed)));
        let mut m = open(fast(), 0.0);
        assert!(m.close(), "the driver closes its socket");
        assert!(!m.close(), "a second close changes nothing");
        assert_eq!(drain(&mut m), [state(ConnectionState::Closing)]);
        m.closed(10.0, 1000, true);
        assert_eq!(drain(&mut m).last(), Some(&state(ConnectionState::Closed)));
    }

    #[test]
    fn the_heartbeat_pings_then_declares_the_connection_dead() {
        let mut m = open(SocketOptions::default().reconnect(fast().reconnect), 0.0);
        m.tick(25_000.0, 0);
        assert_eq!(drain(&mut m), [Command::Ping]);
        m.tick(35_000.0, 0);
        let commands = drain(&mut m);
        assert_eq!(
            commands[..3],
            [
                Command::Detach { dead: true },
                Command::Emit(Event::HeartbeatTimeout),
                Command::Emit(Event::Close {
                    code: 1006,
                    clean: false,
                    reason: Reason::HeartbeatTimeout
                }),
            ]
        );
        assert!(matches!(
            m.status(),
            ConnectionState::Reconnecting { attempt: 1, .. }
        ));
    }

    #[test]
    fn messages_keep_the_heartbeat_quiet_and_waking_probes() {
        let mut m = open(SocketOptions::default(), 0.0);
        m.received(20_000.0);
        m.tick(25_000.0, 0);
        assert!(drain(&mut m).is_empty());
        m.wake(26_000.0);
        assert_eq!(drain(&mut m), [Command::Ping]);
    }

    #[test]
    fn the_connect_timeout_fails_the_attempt() {
        let mut m = machine(fast());
        assert!(m.opening(1, 0.0));
        drain(&mut m);
        m.tick(10_000.0, 0);
        let commands = drain(&mut m);
        assert_eq!(commands[0], Command::Detach { dead: false });
        assert_eq!(
            commands[1],
            Command::Emit(Event::Close {
                code: 1006,
                clean: false,
                reason: Reason::ConnectTimeout
            })
        );
    }

    #[test]
    fn a_close_the_browser_never_confirms_ends_at_the_connect_deadline() {
        let mut m = machine(fast());
        assert!(m.opening(1, 0.0));
        assert!(m.close(), "the driver closes its browser socket");
        drain(&mut m);
        assert_eq!(m.deadline(), Some(10_000.0), "the connect deadline");
        m.tick(10_000.0, 0);
        assert_eq!(
            drain(&mut m),
            [
                Command::Detach { dead: false },
                Command::Emit(Event::Close {
                    code: 1006,
                    clean: false,
                    reason: Reason::ConnectTimeout
                }),
                state(ConnectionState::Closed),
            ]
        );
    }

    #[test]
    fn offline_waits_for_online() {
        let mut m = open(fast(), 0.0);
        m.closed(10.0, 1006, false);
        m.network(20.0, false);
        assert_eq!(m.status(), ConnectionState::Offline);
        assert_eq!(m.deadline(), None, "no attempt while offline");
        drain(&mut m);
        m.network(30.0, true);
        assert_eq!(drain(&mut m).last(), Some(&Command::Connect(2)));
        let mut m = Machine::<Outgoing>::new(MachineOptions::from(&fast()), 0.5);
        m.reconnect(false);
        assert_eq!(m.status(), ConnectionState::Offline);
    }

    /// Makes a request of `kind` at `now`, `timeout_ms` long; returns its id.
    fn request(m: &mut Machine<Outgoing>, now: f64, kind: Kind, timeout_ms: u64) -> u64 {
        let id = m.reserve(kind);
        m.request(now, id, Duration::from_millis(timeout_ms), 10, 0)
            .unwrap();
        id
    }

    fn settled(commands: &[Command<Outgoing>]) -> Vec<(u64, Failure)> {
        commands
            .iter()
            .filter_map(|c| match c {
                Command::Settle(id, failure) => Some((*id, *failure)),
                _ => None,
            })
            .collect()
    }

    /// Drops the connection at `now` and opens the next one: returns what the open asked for.
    fn reconnect(m: &mut Machine<Outgoing>, now: f64) -> Vec<Command<Outgoing>> {
        m.closed(now, 1006, false);
        drain(m);
        m.tick(now + 100.0, 0);
        let attempt = match drain(m).last() {
            Some(Command::Connect(n)) => *n,
            other => panic!("{other:?}"),
        };
        assert!(m.opening(attempt, now + 100.0));
        m.opened(now + 110.0, 0);
        drain(m)
            .into_iter()
            .filter(|c| !matches!(c, Command::Emit(_)))
            .collect()
    }

    #[test]
    fn requests_are_acked_time_out_or_fail_with_their_connection() {
        let mut m = open(fast(), 0.0);
        request(&mut m, 0.0, Kind::Plain, 1000);
        request(&mut m, 0.0, Kind::Plain, 5000);
        request(&mut m, 0.0, Kind::Plain, 5000);
        assert_eq!(
            drain(&mut m),
            [
                Command::Request(1),
                Command::Request(2),
                Command::Request(3)
            ]
        );
        assert!(m.ack(2, None));
        assert!(!m.ack(2, None), "acked once");
        m.tick(1000.0, 0);
        let settled: Vec<_> = drain(&mut m)
            .into_iter()
            .filter(|c| matches!(c, Command::Settle(..)))
            .collect();
        assert_eq!(settled, [Command::Settle(1, Failure::Timeout)]);
        m.closed(2000.0, 1006, false);
        assert!(drain(&mut m).contains(&Command::Settle(3, Failure::Closed)));
    }

    #[test]
    fn a_queued_request_survives_the_close_and_goes_out_on_the_next_connection() {
        let mut m = open(fast(), 0.0);
        m.closed(10.0, 1006, false);
        let room = m.join(None).unwrap();
        let id = request(&mut m, 10.0, Kind::Plain, 5000);
        m.tick(110.0, 0);
        drain(&mut m);
        assert!(m.opening(2, 110.0));
        m.opened(120.0, 0);
        let commands = drain(&mut m);
        assert_eq!(commands[0], Command::Join(room), "rooms before the queue");
        assert_eq!(commands[1], Command::Request(id));
        assert!(m.ack(id, None));
    }

    #[test]
    fn ids_count_up_and_the_cid_prefix_is_random() {
        let mut m = open(fast(), 0.0);
        assert_eq!(m.reserve(Kind::Plain), 1);
        assert_eq!(m.reserve(Kind::Plain), 2, "a reserved id is never reused");
        let other = Machine::<Outgoing>::new(MachineOptions::default(), 0.7);
        assert_ne!(m.cid_prefix(), other.cid_prefix());
        assert!(m.cid_prefix() < 1 << 53, "a JavaScript number holds it");
    }

    #[test]
    fn rooms_are_joined_at_open_and_again_with_since_after_a_reconnect() {
        let mut m = machine(fast().recent(20));
        let room = m.join(None).unwrap();
        assert!(m.opening(1, 0.0));
        m.opened(0.0, 0);
        assert!(drain(&mut m).contains(&Command::Join(room)));
        assert_eq!(
            m.join_of(room),
            Join {
                since: None,
                recent: 20
            }
        );
        m.joined(room, Some((1, 40)), None);
        assert!(m.message(room, 39), "the recent history");
        assert!(m.message(room, 40));
        assert!(m.message(room, 41), "live");
        assert_eq!(m.position(room), Some((1, 41)));
        let commands = reconnect(&mut m, 1000.0);
        assert_eq!(commands, [Command::Join(room)]);
        assert_eq!(
            m.join_of(room),
            Join {
                since: Some((1, 41)),
                recent: 0
            }
        );
        m.joined(room, Some((1, 43)), Some(true));
        assert!(!m.message(room, 41), "a replay's overlap is dropped");
        assert!(m.message(room, 42));
        assert!(m.message(room, 43));
        assert!(!m.message(room, 43), "and never twice");
        assert_eq!(m.position(room), Some((1, 43)));
    }

    #[test]
    fn a_room_not_recovered_is_reported_and_starts_over() {
        let mut m = open(fast(), 0.0);
        let room = m.join(None).unwrap();
        m.joined(room, Some((1, 5)), None);
        drain(&mut m);
        reconnect(&mut m, 1000.0);
        m.joined(room, Some((2, 3)), Some(false));
        assert_eq!(
            drain(&mut m),
            [Command::Emit(Event::RoomNotRecovered(room))]
        );
        assert_eq!(m.position(room), Some((2, 3)));
        assert!(m.message(room, 4));
    }

    #[test]
    fn unacked_chat_messages_are_sent_again_after_the_rejoin_with_the_same_id() {
        let mut m = open(fast(), 0.0);
        let room = m.join(None).unwrap();
        m.joined(room, Some((1, 5)), None);
        let first = request(&mut m, 0.0, Kind::Chat(Some(room)), 10_000);
        let plain = request(&mut m, 0.0, Kind::Plain, 10_000);
        drain(&mut m);
        m.closed(100.0, 1006, false);
        let commands = drain(&mut m);
        assert_eq!(
            settled(&commands),
            [(plain, Failure::Closed)],
            "the chat message is kept"
        );
        let later = request(&mut m, 150.0, Kind::Chat(Some(room)), 10_000);
        m.tick(200.0, 0);
        drain(&mut m);
        assert!(m.opening(2, 200.0));
        m.opened(210.0, 0);
        let commands: Vec<_> = drain(&mut m)
            .into_iter()
            .filter(|c| !matches!(c, Command::Emit(_)))
            .collect();
        assert_eq!(
            commands,
            [
                Command::Join(room),
                Command::Request(first),
                Command::Request(later),
            ],
            "the join, then the oldest first"
        );
        assert_eq!(m.join_of(room).since, Some((1, 5)));
        assert!(m.ack(first, Some((1, 6))), "answered once");
        assert!(!m.ack(first, Some((1, 6))));
        assert_eq!(m.position(room), Some((1, 6)), "its own message, next");
    }

    #[test]
    fn a_chat_message_sent_again_still_times_out_from_when_it_was_made() {
        let mut m = open(fast(), 0.0);
        let room = m.join(None).unwrap();
        let id = request(&mut m, 0.0, Kind::Chat(Some(room)), 1000);
        reconnect(&mut m, 100.0);
        m.tick(1000.0, 0);
        assert_eq!(settled(&drain(&mut m)), [(id, Failure::Timeout)]);
        let id = request(&mut m, 1000.0, Kind::Chat(None), 1000);
        m.close();
        assert_eq!(settled(&drain(&mut m)), [(id, Failure::Closed)]);
    }

    #[test]
    fn history_reads_go_one_at_a_time_per_room_and_are_matched_to_their_page() {
        let mut m = open(fast(), 0.0);
        let a = m.join(None).unwrap();
        let b = m.join(None).unwrap();
        drain(&mut m);
        let a1 = request(&mut m, 0.0, Kind::History(a), 10_000);
        let id = m.reserve(Kind::History(a));
        assert_eq!(
            m.request(0.0, id, Duration::from_secs(1), 10, 0),
            Err(SendError::HistoryPending),
            "a page names no request"
        );
        let b1 = request(&mut m, 0.0, Kind::History(b), 10_000);
        assert_eq!(drain(&mut m), [Command::Request(a1), Command::Request(b1)]);
        assert_eq!(m.page(b), Some(b1));
        assert!(!m.ack(b1, None), "the page settled it");
        assert_eq!(m.page(b), None);
        let commands = reconnect(&mut m, 100.0);
        assert_eq!(commands.last(), Some(&Command::Request(a1)), "sent again");
        assert_eq!(m.page(a), Some(a1));
        request(&mut m, 200.0, Kind::History(a), 10_000);
    }

    #[test]
    fn a_history_read_is_sent_again_after_a_reconnect() {
        let mut m = open(fast(), 0.0);
        let room = m.join(None).unwrap();
        drain(&mut m);
        let id = request(&mut m, 0.0, Kind::History(room), 10_000);
        drain(&mut m);
        let commands = reconnect(&mut m, 100.0);
        assert_eq!(commands.last(), Some(&Command::Request(id)));
        assert_eq!(m.page(room), Some(id));
    }

    #[test]
    fn a_request_that_timed_out_in_the_queue_is_never_sent() {
        let mut m = machine(fast());
        let id = request(&mut m, 0.0, Kind::Plain, 100);
        m.tick(100.0, 0);
        assert_eq!(settled(&drain(&mut m)), [(id, Failure::Timeout)]);
        assert!(m.opening(1, 100.0));
        m.opened(110.0, 0);
        assert!(!drain(&mut m).contains(&Command::Request(id)));
    }

    #[test]
    fn answers_for_an_abandoned_attempt_are_ignored() {
        let mut m = machine(fast());
        m.close();
        assert!(!m.opening(1, 0.0));
        m.failed(1, 0.0);
        assert_eq!(
            drain(&mut m),
            [
                state(ConnectionState::Connecting),
                Command::Connect(1),
                state(ConnectionState::Closed)
            ]
        );
    }

    #[test]
    fn jitter_stays_in_its_spread() {
        let mut m = Machine::<Outgoing>::new(MachineOptions::from(&SocketOptions::default()), 0.3);
        let mut seen = (1.0_f64, 0.0_f64);
        for _ in 0..1000 {
            let r = m.random();
            assert!((0.0..1.0).contains(&r));
            seen = (seen.0.min(r), seen.1.max(r));
        }
        assert!(seen.0 < 0.01 && seen.1 > 0.99, "{seen:?}");
    }

    #[test]
    fn the_options_defaults_are_the_socket_options_defaults() {
        let ours = MachineOptions::default();
        let theirs = MachineOptions::from(&SocketOptions::default());
        assert_eq!(ours.connect_timeout, theirs.connect_timeout);
        assert_eq!(ours.heartbeat, theirs.heartbeat);
        assert_eq!(ours.reconnect, theirs.reconnect);
        assert_eq!(ours.close_policy, theirs.close_policy);
        assert_eq!(ours.queue, theirs.queue);
        assert_eq!(ours.high_water_mark, theirs.high_water_mark);
        assert_eq!(ours.rejoin, theirs.rejoin);
    }

    #[test]
    fn close_codes_and_reasons_are_checked_as_the_browser_does() {
        assert_eq!(check_close(1000, 0), Ok(()));
        assert_eq!(check_close(4999, 123), Ok(()));
        assert_eq!(check_close(1001, 0), Err(BadClose::Code));
        assert_eq!(check_close(3000, 124), Err(BadClose::Reason));
    }

    // ---- Tokens: the driver asks its token provider at every `Connect`.

    /// The attempt of the `Connect` among `commands`, if one is there.
    fn connect_of(commands: &[Command<Outgoing>]) -> Option<u32> {
        commands.iter().find_map(|c| match c {
            Command::Connect(n) => Some(*n),
            _ => None,
        })
    }

    /// The delay of the `Reconnecting` among `commands`, if one is there.
    fn delay_of(commands: &[Command<Outgoing>]) -> Option<u128> {
        commands.iter().find_map(|c| match c {
            Command::Emit(Event::Reconnecting { delay, .. }) => Some(delay.as_millis()),
            _ => None,
        })
    }

    #[test]
    fn every_attempt_starts_with_a_connect_for_the_driver_to_ask_its_provider() {
        let mut m = machine(fast());
        let mut now = 0.0;
        let mut asked = vec![];
        // The first connect, a reconnect after a drop, one after an expired token, and the
        // user's reconnect after a final close: each attempt is a `Connect` first, and none
        // opens without one.
        for code in [1006, 4419, 4401] {
            let attempt = connect_of(&drain(&mut m)).expect("a Connect");
            asked.push(attempt);
            assert!(m.opening(attempt, now));
            assert!(!m.opening(attempt, now), "one socket per Connect");
            m.opened(now + 1.0, 0);
            drain(&mut m);
            m.closed(now + 10.0, code, true);
            now += 10.0;
            if let Some(at) = m.deadline() {
                now = at;
                m.tick(now, 0);
            }
        }
        assert_eq!(m.status(), ConnectionState::Closed, "4401 is final");
        assert_eq!(connect_of(&drain(&mut m)), None);
        m.reconnect(true);
        asked.push(connect_of(&drain(&mut m)).expect("a Connect"));
        assert_eq!(asked, [1, 2, 3, 4]);
    }

    #[test]
    fn a_token_provider_that_fails_backs_off_within_the_attempts() {
        let mut m = machine(fast());
        let mut now = 0.0;
        let mut delays = vec![];
        loop {
            let attempt = connect_of(&drain(&mut m)).expect("a Connect");
            // The provider rejected: the driver reports it instead of opening.
            m.failed(attempt, now);
            let commands = drain(&mut m);
            assert_eq!(
                commands[..2],
                [
                    Command::Emit(Event::Error),
                    Command::Emit(Event::Close {
                        code: 1006,
                        clean: false,
                        reason: Reason::Failed
                    }),
                ]
            );
            assert_eq!(connect_of(&commands), None, "no tight loop");
            let Some(delay) = delay_of(&commands) else {
                assert!(commands.contains(&Command::Emit(Event::GaveUp)));
                break;
            };
            delays.push(delay);
            now += delay as f64;
            m.tick(now - 1.0, 0);
            assert!(drain(&mut m).is_empty(), "not before its delay");
            m.tick(now, 0);
        }
        assert_eq!(delays, [100, 200, 400], "the backoff, then out of attempts");
        assert_eq!(m.status(), ConnectionState::Closed);
    }

    #[test]
    fn an_invalid_token_is_final() {
        let mut m = open(fast(), 0.0);
        m.closed(10.0, 4401, true);
        assert_eq!(
            drain(&mut m),
            [
                Command::Detach { dead: false },
                Command::Emit(Event::Close {
                    code: 4401,
                    clean: true,
                    reason: Reason::Browser
                }),
                state(ConnectionState::Closed),
            ]
        );
        assert_eq!(m.deadline(), None);
        assert_eq!(m.send(20.0, text("x"), 0), Err(SendError::Closed));
    }

    #[test]
    fn an_expired_token_reconnects_at_once_and_resumes() {
        let mut m = open(fast(), 0.0);
        let room = m.join(None).unwrap();
        m.joined(room, Some((1, 5)), None);
        let chat = request(&mut m, 0.0, Kind::Chat(Some(room)), 600_000);
        drain(&mut m);
        // Mid-session, long after the open: the token expired.
        m.closed(60_000.0, 4419, true);
        assert_eq!(
            drain(&mut m),
            [
                Command::Detach { dead: false },
                Command::Emit(Event::Close {
                    code: 4419,
                    clean: true,
                    reason: Reason::Browser
                }),
                state(ConnectionState::Connecting),
                Command::Connect(2),
            ],
            "no delay, no reconnecting event"
        );
        assert_eq!(m.attempts(), 0, "the backoff did not grow");
        assert!(m.opening(2, 60_050.0));
        m.opened(60_060.0, 0);
        let commands = drain(&mut m);
        assert_eq!(
            commands[..2],
            [Command::Join(room), Command::Request(chat)],
            "rejoined and sent again as after any reconnect"
        );
        assert!(commands.contains(&Command::Emit(Event::Open { reconnected: true })));
        assert_eq!(m.join_of(room).since, Some((1, 5)));
    }

    #[test]
    fn expired_tokens_in_a_row_fall_back_to_the_backoff() {
        let mut m = open(
            fast().reconnect(fast().reconnect.max_attempts(Some(2))),
            0.0,
        );
        let mut now = 0.0;
        let mut delays = vec![];
        // A provider that hands out expired tokens: every connection ends with 4419 at once.
        for _ in 0..6 {
            m.closed(now + 10.0, 4419, true);
            let commands = drain(&mut m);
            if commands.contains(&Command::Emit(Event::GaveUp)) {
                break;
            }
            let delay = delay_of(&commands);
            delays.push(delay.unwrap_or(0));
            now += 10.0 + delay.unwrap_or(0) as f64;
            if delay.is_some() {
                m.tick(now, 0);
            }
            let attempt = connect_of(&commands)
                .or_else(|| connect_of(&drain(&mut m)))
                .expect("a Connect");
            assert!(m.opening(attempt, now));
            m.opened(now, 0);
            drain(&mut m);
        }
        assert_eq!(
            delays,
            [0, 0, 0, 100, 200],
            "three at once, then the backoff, which runs out"
        );
        assert_eq!(m.status(), ConnectionState::Closed);

        // A connection that lived `min_uptime` starts the count over.
        let mut m = open(fast(), 0.0);
        for at in [10.0, 20.0, 30.0] {
            m.closed(at, 4419, true);
            let attempt = connect_of(&drain(&mut m)).expect("at once");
            assert!(m.opening(attempt, at));
            m.opened(at, 0);
            drain(&mut m);
        }
        m.closed(30.0 + 5_000.0, 4419, true);
        assert!(connect_of(&drain(&mut m)).is_some(), "at once again");
    }

    #[test]
    fn the_policy_can_make_an_expired_token_final_and_no_reconnect_means_none() {
        let mut m = open(
            fast().close_policy(ClosePolicy::default().stop_on(4419)),
            0.0,
        );
        m.closed(10.0, 4419, true);
        assert_eq!(drain(&mut m).last(), Some(&state(ConnectionState::Closed)));
        let mut m = open(fast(), 0.0);
        m.close_policy(4419, false);
        m.closed(10.0, 4419, true);
        assert_eq!(
            m.status(),
            ConnectionState::Closed,
            "stopOn, from JavaScript"
        );
        let mut m = open(fast().reconnect(fast().reconnect.enabled(false)), 0.0);
        m.closed(10.0, 4419, true);
        assert_eq!(connect_of(&drain(&mut m)), None);
        assert_eq!(m.status(), ConnectionState::Closed);
    }
}
