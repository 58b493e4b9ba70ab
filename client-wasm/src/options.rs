//! Everything a [`Socket`](crate::Socket) can be told, with the guide's defaults.

#[cfg(feature = "socket")]
use crate::TokenProvider;
use crate::prelude::*;
use crate::{ClosePolicy, HeartbeatOptions, QueueOptions, ReconnectOptions};
use core::time::Duration;

/// Socket options. `SocketOptions::default()` gives the guide's behaviour: heartbeat every 25 s
/// with a 10 s timeout, reconnect from 1 s ×1.5 up to 30 s with 0.5–1.5× jitter for 10 attempts,
/// a 1000-message / 1 MiB send queue, and rejoining rooms after a reconnect.
///
/// ```
/// use std::time::Duration;
/// use tether_client::{HeartbeatOptions, ReconnectOptions, SocketOptions};
///
/// let options = SocketOptions::default()
///     .protocols(["chat", "json"])
///     .heartbeat(Some(HeartbeatOptions::default().interval(Duration::from_secs(15))))
///     .reconnect(ReconnectOptions::default().max_attempts(None));
/// assert_eq!(options.connect_timeout, Duration::from_secs(10));
/// ```
#[derive(Debug, Clone)]
pub struct SocketOptions {
    /// Subprotocols offered at connect, in order of preference (the guide's
    /// `new WebSocket(url, ['chat', 'json'])`). Default: none.
    pub protocols: Vec<String>,
    /// How long an attempt may take to open before it counts as failed. Default: 10 s.
    pub connect_timeout: Duration,
    /// The client-side heartbeat, or `None` for none. Default: on, the guide's timing.
    pub heartbeat: Option<HeartbeatOptions>,
    /// Reconnect timing and limits.
    pub reconnect: ReconnectOptions,
    /// Which server close codes end the socket and which call for a reconnect.
    pub close_policy: ClosePolicy,
    /// Bounds of the queue that holds sends while the socket is not open.
    pub queue: QueueOptions,
    /// When set, sends are held in the queue while the browser's `bufferedAmount` is above this
    /// many bytes, and released as it drains. Default: `None` (send at once).
    pub high_water_mark: Option<u32>,
    /// Whether rooms joined with [`Socket::join`](crate::Socket::join) are joined again after a
    /// reconnect, before queued sends go out. Default: true.
    pub rejoin: bool,
    /// How many of a room's latest messages a first [`Socket::join`](crate::Socket::join) asks
    /// the server for (`join {recent}`, at most 100), delivered as `message`s before live ones.
    /// Joins after a reconnect ask for what was missed instead (`since`). Default: 0.
    pub recent: u32,
    /// The resume token to present on the first connection (`?resume=<token>`), from an earlier
    /// socket's `connected` (kept across a page reload, say): the server then gives this socket
    /// the same `clientId`. After that the socket presents the token of its latest `connected`
    /// by itself. Default: `None`.
    pub resume_token: Option<String>,
    /// Asked for a token before every connection attempt, the first and every reconnect: the
    /// token goes into the URL's query as `token=<token>` (encoded; browsers cannot set headers
    /// on a WebSocket). A provider that fails fails the attempt, which is retried with backoff
    /// like any other. A server that closes with 4419 (the token expired) gets a new attempt at
    /// once, with a fresh token; 4401 (no valid token) is final. See [`ClosePolicy`] and
    /// [`CloseAction::Renew`](crate::CloseAction::Renew). Default: `None`, no token.
    #[cfg(feature = "socket")]
    pub token: Option<TokenProvider>,
    /// Whether to connect as soon as the socket is created. Default: true; with false, call
    /// [`Socket::reconnect`](crate::Socket::reconnect) to connect.
    pub immediate: bool,
}

impl SocketOptions {
    /// The default [`connect_timeout`](Self::connect_timeout): 10 s.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
}

impl Default for SocketOptions {
    fn default() -> Self {
        Self {
            protocols: Vec::new(),
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            heartbeat: Some(HeartbeatOptions::default()),
            reconnect: ReconnectOptions::default(),
            close_policy: ClosePolicy::default(),
            queue: QueueOptions::default(),
            high_water_mark: None,
            rejoin: true,
            recent: 0,
            resume_token: None,
            #[cfg(feature = "socket")]
            token: None,
            immediate: true,
        }
    }
}

impl SocketOptions {
    /// Sets the subprotocols to offer.
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets (or, with `None`, turns off) the heartbeat.
    pub fn heartbeat(mut self, heartbeat: Option<HeartbeatOptions>) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// Sets the reconnect timing and limits.
    pub fn reconnect(mut self, reconnect: ReconnectOptions) -> Self {
        self.reconnect = reconnect;
        self
    }

    /// Sets the close policy.
    pub fn close_policy(mut self, policy: ClosePolicy) -> Self {
        self.close_policy = policy;
        self
    }

    /// Sets the send queue's bounds.
    pub fn queue(mut self, queue: QueueOptions) -> Self {
        self.queue = queue;
        self
    }

    /// Holds sends while `bufferedAmount` is above `bytes`.
    pub fn high_water_mark(mut self, bytes: Option<u32>) -> Self {
        self.high_water_mark = bytes;
        self
    }

    /// Sets whether joined rooms are joined again after a reconnect.
    pub fn rejoin(mut self, rejoin: bool) -> Self {
        self.rejoin = rejoin;
        self
    }

    /// Sets how many of a room's latest messages a first join asks for.
    pub fn recent(mut self, messages: u32) -> Self {
        self.recent = messages;
        self
    }

    /// Sets the resume token to present on the first connection.
    pub fn resume_token(mut self, token: Option<String>) -> Self {
        self.resume_token = token;
        self
    }

    /// Sets the token provider: an async function asked before every connection attempt.
    ///
    /// ```no_run
    /// use tether_client::{Socket, SocketOptions};
    ///
    /// # async fn fetch_token() -> Result<String, String> { Ok(String::new()) }
    /// let options = SocketOptions::default().token(|| async { fetch_token().await });
    /// let socket = Socket::with_options("/ws", options)?; // /ws?token=…
    /// # Ok::<(), tether_client::ConnectError>(())
    /// ```
    #[cfg(feature = "socket")]
    pub fn token<F, Fut>(mut self, provider: F) -> Self
    where
        F: Fn() -> Fut + 'static,
        Fut: core::future::Future<Output = Result<String, String>> + 'static,
    {
        self.token = Some(TokenProvider::new(provider));
        self
    }

    /// Sets whether to connect at once.
    pub fn immediate(mut self, immediate: bool) -> Self {
        self.immediate = immediate;
        self
    }
}
