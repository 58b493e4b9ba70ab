//! The numbers that cross the boundary between [`SocketCore`](super::SocketCore) and the
//! package's `tether-socket.js`, which holds the same tables. Numbers, not strings: they cost
//! no glue code and no bytes in the wasm.

use crate::{ConnectionState, SendError};

/// What the emitter's `emit(kind, a, b, c)` call carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum EventKind {
    /// `statechange`; `a`: the [`state`] number.
    StateChange = 0,
    /// `open`; `a`: whether it is a reconnection (then `reconnected` follows).
    Open = 1,
    /// `message`; `a`: the data, `b`: the origin.
    Message = 2,
    /// `error`.
    Error = 3,
    /// `close`; `a`: the code, `b`: the reason, `c`: whether it was clean.
    Close = 4,
    /// `reconnecting`; `a`: the attempt, `b`: the delay in milliseconds.
    Reconnecting = 5,
    /// `heartbeattimeout`.
    HeartbeatTimeout = 6,
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

/// What `send`, `request`, `join` and `leave` return: 0 sent or queued; 1 closed (the wrapper
/// throws an `InvalidStateError`); 2 the send queue is full (`QuotaExceededError`); 3 the browser
/// refused the send.
pub fn send_status(result: Result<(), SendError>) -> u8 {
    match result {
        Ok(()) => 0,
        Err(SendError::QueueFull { .. }) => 2,
        Err(SendError::Browser(_)) => 3,
        Err(_) => 1,
    }
}

/// How a request ended, for its `settle(kind, ack)` callback: 0 acked (`ack` is the payload, ok
/// or not), 1 timed out, 2 closed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Settle {
    /// The ack arrived.
    Ack = 0,
    /// No ack in time.
    Timeout = 1,
    /// The connection closed first.
    Closed = 2,
}
