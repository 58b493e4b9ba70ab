//! The numbers that cross the boundary between [`SocketCore`](super::SocketCore) and the
//! package's `tether-socket.js`, which holds the same tables. Numbers, not strings: they cost
//! no glue code and no bytes in the wasm. The test `js_tables` checks the JavaScript's copies
//! against these, so the two cannot drift apart.

use crate::{ConnectionState, SendError};

/// What [`SocketCore::input`](super::SocketCore::input) is told: its `op`, with the meaning of
/// its `x`, `y`, `z` and `w`, and what it returns (0 unless said). Every input also gets `now`
/// (`Date.now()`) and `buffered` (the `WebSocket`'s `bufferedAmount`, 0 without one). Rooms are
/// the keys [`JOIN`] hands out; epochs are numbers the wrapper gives their texts (the same
/// text, the same number).
pub mod input {
    /// Returns the [`state`](super::state) number.
    pub const STATE: u8 = 0;
    /// Returns the bytes waiting in the send queue.
    pub const QUEUED: u8 = 1;
    /// Returns when to [`TICK`] next (wall-clock milliseconds), `Infinity` for never.
    pub const DEADLINE: u8 = 2;
    /// Reconnect after close code `x` if `y` is 1, else stay closed: the options `reconnectOn`
    /// and `stopOn`, one code at a time.
    pub const POLICY: u8 = 3;
    /// Connect now, starting the attempt counter over; `x`: `navigator.onLine` (1 or 0).
    pub const RECONNECT: u8 = 4;
    /// The URL of attempt `x` is known: returns 1 if the wrapper should create its `WebSocket`
    /// now, 0 if the attempt was abandoned meanwhile.
    pub const OPENING: u8 = 5;
    /// Attempt `x` failed before it had a `WebSocket`; the wrapper keeps why.
    pub const FAILED: u8 = 6;
    /// The `WebSocket` opened.
    pub const OPENED: u8 = 7;
    /// A message arrived.
    pub const RECEIVED: u8 = 8;
    /// The ack of request `x` arrived, with `seq` `y` in epoch `z` if it has them: returns 1 if
    /// it was pending (the wrapper resolves it).
    pub const ACK: u8 = 9;
    /// The `WebSocket` closed with code `x`, cleanly if `y` is 1; the wrapper keeps its reason.
    pub const CLOSED: u8 = 10;
    /// The timer set for [`DEADLINE`] fired.
    pub const TICK: u8 = 11;
    /// The page was shown again.
    pub const WAKE: u8 = 12;
    /// The network came back (`x` 1) or went away (`x` 0).
    pub const NETWORK: u8 = 13;
    /// Send (now, or once open) a message of `x` bytes, which the wrapper keeps until an
    /// [`Op::Send`](super::Op::Send) asks for it. Returns a [`send_status`](super::send_status).
    pub const SEND: u8 = 14;
    /// As [`SEND`], for request `x` (from [`ID`]) of `y` bytes, whose ack is awaited for `z`
    /// ms: [`ACK`] (or [`PAGE`]) reports it, an [`Op::Settle`](super::Op::Settle) the failure.
    /// The wrapper keeps the message until then, and sends it when an
    /// [`Op::Request`](super::Op::Request) asks, which may be more than once.
    pub const REQUEST: u8 = 15;
    /// Close for good with code `x` and a reason of `y` UTF-8 bytes, as `WebSocket.close`
    /// does. Returns 1 for a code that is not 1000 or 3000–4999 (the wrapper throws an
    /// `InvalidAccessError`), 2 for a reason over 123 bytes (`SyntaxError`); else 3 if the
    /// wrapper must now close its `WebSocket` with them, 0 if there is none to close.
    pub const CLOSE: u8 = 16;
    /// Returns the id of the next request, which is of kind `x` (0 any, 1 a chat `message`,
    /// which gets a `cid`, 2 a `history` read) to room `y` (−1: none).
    pub const ID: u8 = 17;
    /// Returns the random prefix of the socket's `cid`s: a message's `cid` is the prefix and
    /// its request id, in decimal, joined by `-`.
    pub const CID: u8 = 18;
    /// Join room `x` (−1: a new one): returns the room's key (the wrapper keeps the room's name
    /// under it), or −1 once closed. An [`Op::Join`](super::Op::Join) sends it, now or at the
    /// next open.
    pub const JOIN: u8 = 19;
    /// Forget room `x` (the wrapper sends its `leave`).
    pub const LEAVE: u8 = 20;
    /// Room `x`'s `joined` arrived, with `seq` `y` in epoch `z` (if it has them) and
    /// `recovered` `w` (1, 0, or `NaN` when absent).
    pub const JOINED: u8 = 21;
    /// A `message` of room `x` with `seq` `y` arrived: returns 1 to deliver it, 0 to drop it
    /// (delivered already).
    pub const MESSAGE: u8 = 22;
    /// A `history` page of room `x` arrived: returns the id of the request it answers (the
    /// wrapper resolves it with the page), 0 for none.
    pub const PAGE: u8 = 23;
}

/// What [`SocketCore::poll`](super::SocketCore::poll) returns: the driver's next step, with its
/// arguments in `a` and `b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    /// Nothing left to do.
    Done = 0,
    /// Start attempt `a`: get its URL, then [`input::OPENING`] and a `WebSocket`, or
    /// [`input::FAILED`].
    Connect = 1,
    /// Let go of the browser socket, closing it if live: with 4000 "heartbeat timeout" if `a`
    /// is 1 (the heartbeat declared it dead), else with 1000.
    Detach = 2,
    /// Send the oldest message the wrapper holds.
    Send = 3,
    /// Send the ping.
    Ping = 4,
    /// Send room `a`'s `join`: with `since` `{epoch: c, seq: b}` if `b` is not −1, else with
    /// `recent` `c` if that is not 0.
    Join = 5,
    /// Send the message of request `a`.
    Request = 6,
    /// Request `a` failed: `b` is 1 for a timeout, 2 for a close.
    Settle = 7,
    /// `statechange`; `a`: the [`state`] number.
    State = 8,
    /// `open`; `a`: 1 for a reconnection (then `reconnected` follows).
    Open = 9,
    /// `error`.
    Error = 10,
    /// `close`; `a`: the code; `b`: the reason's source × 2 + 1 if clean. Sources: 0 the
    /// browser's event, 1 the failure of the attempt, 2 "connect timeout", 3 "heartbeat timeout".
    Close = 11,
    /// `reconnecting`; `a`: the attempt, `b`: the delay in milliseconds.
    Reconnecting = 12,
    /// `heartbeattimeout`.
    HeartbeatTimeout = 13,
    /// `roomnotrecovered`; `a`: the room (the reason is in the `joined` just read).
    RoomNotRecovered = 14,
}

/// The number of a state: 0 connecting, 1 open, 2 closing, 3 reconnecting, 4 offline, 5 closed.
pub fn state(state: ConnectionState) -> u8 {
    match state {
        ConnectionState::Connecting => 0,
        ConnectionState::Open => 1,
        ConnectionState::Closing => 2,
        ConnectionState::Reconnecting { .. } => 3,
        ConnectionState::Offline => 4,
        ConnectionState::Closed => 5,
    }
}

/// What [`input::SEND`] and [`input::REQUEST`] return: 0 sent or queued (the wrapper keeps the
/// message, and an [`Op::Send`] asks for it); 1 closed (the wrapper throws an
/// `InvalidStateError`); 2 the send queue is full (`QuotaExceededError`); 3 a `history` read of
/// the room is pending (`InvalidStateError`).
pub fn send_status(result: Result<(), SendError>) -> u8 {
    match result {
        Ok(()) => 0,
        Err(SendError::QueueFull { .. }) => 2,
        Err(SendError::HistoryPending) => 3,
        Err(_) => 1,
    }
}
