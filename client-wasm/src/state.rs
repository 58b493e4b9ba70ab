//! Where a socket is in its life, and the browser-style ready state.

/// Where a socket is in its life. Finer than [`ReadyState`], which it maps onto.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// An attempt is under way.
    Connecting,
    /// Open: sends go out at once.
    Open,
    /// Closing at the user's request.
    Closing,
    /// Waiting to reconnect after an unexpected close.
    Reconnecting {
        /// The attempt that is scheduled.
        attempt: u32,
        /// When it starts, in wall-clock milliseconds (JavaScript's `Date.now()`).
        at: u64,
    },
    /// The browser is offline; the socket reconnects when it is back online.
    Offline,
    /// Closed for good: by the user, by a final close code, or out of attempts.
    Closed,
}

impl ConnectionState {
    /// The browser-style ready state: waiting to reconnect, or offline, counts as connecting,
    /// since sends are queued and the socket will try again by itself.
    pub fn ready_state(self) -> ReadyState {
        match self {
            Self::Connecting | Self::Reconnecting { .. } | Self::Offline => ReadyState::Connecting,
            Self::Open => ReadyState::Open,
            Self::Closing => ReadyState::Closing,
            Self::Closed => ReadyState::Closed,
        }
    }
}

/// The browser's `WebSocket.readyState` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u16)]
pub enum ReadyState {
    /// 0: connecting.
    Connecting = 0,
    /// 1: open.
    Open = 1,
    /// 2: closing.
    Closing = 2,
    /// 3: closed.
    Closed = 3,
}

impl ReadyState {
    /// The browser's number for this state.
    pub fn as_u16(self) -> u16 {
        self as u16
    }
}
