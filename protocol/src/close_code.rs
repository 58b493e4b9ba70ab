//! The WebSocket close codes the server sends, and what each means for a client.

/// A WebSocket close code (RFC 6455 §7.4) as used by the Tether server.
///
/// A reconnecting client should treat [`GOING_AWAY`](Self::GOING_AWAY),
/// [`INTERNAL_ERROR`](Self::INTERNAL_ERROR), [`SERVICE_RESTART`](Self::SERVICE_RESTART) and
/// [`TRY_AGAIN_LATER`](Self::TRY_AGAIN_LATER) as transient, and the others as final: sending the same
/// thing again would be refused again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the peer is done; nothing went wrong.
    pub const NORMAL: Self = Self(1000);
    /// 1001: the server is shutting down (or a browser page is going away).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the peer broke the WebSocket framing rules.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: a kind of data the endpoint does not accept.
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1006: never sent; reported locally when a connection dropped without a close frame.
    pub const ABNORMAL: Self = Self(1006);
    /// 1007: a text frame that is not valid UTF-8.
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: the client broke a server policy.
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: a message larger than the server's limit.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1011: the server hit an unexpected condition.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: the server is restarting.
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: the server is overloaded, or this client could not keep up with its messages (a slow
    /// consumer); reconnect with backoff.
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// A newer connection presented this connection's resume token and took over its client id
    /// (for example the same tab after a network change). Not transient: reconnecting would take
    /// it back from the newer one.
    pub const REPLACED: Self = Self(4001);
    /// The connection's token is missing or not valid (a bad signature, the wrong audience, a
    /// server with auth on and no `?token=`). Final: the same token would be refused again.
    pub const TOKEN_INVALID: Self = Self(4401);
    /// The connection's token has expired (at the connect, or during the session without a
    /// `refresh`). Reconnect with a fresh token, at once.
    pub const TOKEN_EXPIRED: Self = Self(4419);

    /// Whether a client should reconnect after the server closed with this code.
    pub fn is_transient(self) -> bool {
        matches!(self.0, 1001 | 1006 | 1011 | 1012 | 1013)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        Self(code)
    }
}
