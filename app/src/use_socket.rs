//! `use_socket`: the Leptos hook over a [`tether_client::Socket`].

use leptos::prelude::*;
use serde::Serialize;
use std::{future::Future, pin::Pin, time::Duration};
use tether_client::{
    ConnectError, ConnectionState, Incoming, Posted, ReadyState, RequestError, SendError, Socket,
    SocketEvent, SocketOptions, Subscription, TokenProvider, protocol::History,
};

/// What [`use_socket`] returns: signals that follow the connection, and methods to use it.
///
/// It is `Copy`: hand it to closures and child components freely. The socket itself lives with
/// the owner that called [`use_socket`] and is closed when that owner is cleaned up; after that,
/// every method is a no-op or an `Err`, and the signals keep their last values.
#[derive(Debug, Clone, Copy)]
pub struct UseSocket {
    /// Where the connection is: connecting, open, reconnecting (with the attempt and when), offline
    /// or closed.
    pub state: Signal<ConnectionState>,
    /// The browser-style ready state (0–3); waiting to reconnect counts as connecting.
    pub ready_state: Signal<ReadyState>,
    /// Whether the connection is open.
    pub is_connected: Signal<bool>,
    /// The most recent message. Several messages may arrive before an effect runs, so do not
    /// rely on this to see each one: use [`on_message`](Self::on_message) for that.
    pub last_message: Signal<Option<Incoming>>,
    socket: StoredValue<Option<Held>, LocalStorage>,
}

/// The socket and the subscription that feeds the signals, dropped together.
#[derive(Debug)]
struct Held {
    socket: Socket,
    // Detached before the socket closes at cleanup, so the closing does not touch signals that
    // are being disposed.
    signals: Subscription,
}

/// Opens a resilient WebSocket to `url` (`/ws` resolves against the page, `ws:`/`wss:`/`http:`/
/// `https:` are taken as they are) for as long as the current reactive owner lives.
///
/// Unlike the guide's `useWebSocket`, nothing is lost and nothing outlives the component:
/// every message reaches [`UseSocket::on_message`] listeners even in a burst, sends made while
/// reconnecting are queued instead of dropped, and when the owner is cleaned up the socket is
/// closed with 1000 and never reconnects. Reconnecting, heartbeats, the send queue, acks and
/// rejoining rooms come from [`tether_client::Socket`], configured by `options`.
///
/// Fails only if `url` cannot be a WebSocket URL.
pub fn use_socket(url: &str, options: SocketOptions) -> Result<UseSocket, ConnectError> {
    let socket = Socket::with_options(url, options)?;
    // Read after creating: an immediate socket has already started its first attempt.
    let (state, set_state) = signal(socket.state());
    let (last_message, set_last_message) = signal(None::<Incoming>);
    let signals = socket.on(move |event| match event {
        SocketEvent::State(state) => set_state.set(*state),
        SocketEvent::Message(message) => set_last_message.set(Some(message.clone())),
        _ => {}
    });
    let held = StoredValue::new_local(Some(Held { socket, signals }));
    on_cleanup(move || {
        if let Some(Some(Held { socket, signals })) = held.try_update_value(Option::take) {
            drop(signals);
            // 1000 is always a valid code and "" a valid reason: this cannot fail.
            let _ = socket.close(1000, "");
        }
    });
    let is_connected = Memo::new(move |_| state.get() == ConnectionState::Open);
    let ready_state = Memo::new(move |_| state.get().ready_state());
    Ok(UseSocket {
        state: state.into(),
        ready_state: ready_state.into(),
        is_connected: is_connected.into(),
        last_message: last_message.into(),
        socket: held,
    })
}

impl UseSocket {
    /// Runs `f` with the socket, unless the owner was cleaned up.
    pub fn with_socket<T>(&self, f: impl FnOnce(&Socket) -> T) -> Option<T> {
        self.socket
            .try_with_value(|held| held.as_ref().map(|held| f(&held.socket)))
            .flatten()
    }

    /// Sends `{"type": kind, "payload": payload}`: now if open, else queued for the next open.
    pub fn send<P: Serialize + ?Sized>(&self, kind: &str, payload: &P) -> Result<(), SendError> {
        self.with_socket(|socket| socket.emit(kind, payload))
            .unwrap_or(Err(SendError::Closed))
    }

    /// Sends `{"type": kind, "payload": payload, "id": n}` and resolves with the server's `ack`,
    /// or fails on refusal, on `timeout`, or when the connection closes first.
    pub fn request<P: Serialize + ?Sized>(
        &self,
        kind: &str,
        payload: &P,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), RequestError>> + 'static {
        // Boxed: the client's future is `'static` but, under edition 2024's capture rules, its
        // type still names the socket borrow, so it cannot leave `with_socket` unboxed.
        let reply = self.with_socket(|socket| -> Pin<Box<dyn Future<Output = _>>> {
            Box::pin(socket.request(kind, payload, timeout))
        });
        async move {
            match reply {
                Some(reply) => reply.await,
                None => Err(RequestError::Send(SendError::Closed)),
            }
        }
    }

    /// Sends a chat message to `room` with `cid` its id for the server, and resolves with where
    /// the server put it (its `seq`), or fails on refusal or after `timeout`. It is sent again
    /// after a reconnect until acked, with the same `cid`: the room gets it once.
    pub fn send_message(
        &self,
        room: &str,
        text: &str,
        cid: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<Posted, RequestError>> + 'static {
        let reply = self.with_socket(|socket| -> Pin<Box<dyn Future<Output = _>>> {
            Box::pin(socket.send_message(room, text, Some(cid), timeout))
        });
        async move {
            match reply {
                Some(reply) => reply.await,
                None => Err(RequestError::Send(SendError::Closed)),
            }
        }
    }

    /// Asks for a page of `room`'s history: up to `limit` messages before `before` (the latest
    /// without it), oldest first. See [`Socket::history`].
    pub fn history(
        &self,
        room: &str,
        before: Option<u64>,
        limit: u32,
        timeout: Duration,
    ) -> impl Future<Output = Result<History, RequestError>> + 'static {
        let reply = self.with_socket(|socket| -> Pin<Box<dyn Future<Output = _>>> {
            Box::pin(socket.history(room, before, Some(limit), timeout))
        });
        async move {
            match reply {
                Some(reply) => reply.await,
                None => Err(RequestError::Send(SendError::Closed)),
            }
        }
    }

    /// Joins a room; the socket joins it again by itself after every reconnect.
    pub fn join(&self, room: &str) -> Result<(), SendError> {
        self.with_socket(|socket| socket.join(room))
            .unwrap_or(Err(SendError::Closed))
    }

    /// Leaves a room and stops rejoining it.
    pub fn leave(&self, room: &str) -> Result<(), SendError> {
        self.with_socket(|socket| socket.leave(room))
            .unwrap_or(Err(SendError::Closed))
    }

    /// Connects now: after [`close`](Self::close), after the attempts ran out, or to skip the
    /// wait before the next reconnect ("reconnect now").
    pub fn open(&self) {
        self.with_socket(Socket::reconnect);
    }

    /// Asks `provider` for a token before every connection attempt from now on
    /// ([`Socket::set_token`]); [`open`](Self::open) to connect with one now.
    pub fn set_token(&self, provider: TokenProvider) {
        self.with_socket(|socket| socket.set_token(Some(provider)));
    }

    /// Closes the connection (code 1000) and stops reconnecting until [`open`](Self::open).
    pub fn close(&self) {
        // 1000 is always a valid code and "" a valid reason: this cannot fail.
        let _ = self.with_socket(|socket| socket.close(1000, ""));
    }

    /// Calls `listener` with every message, in order, for as long as the current reactive owner
    /// lives (the calling component, say).
    pub fn on_message(&self, mut listener: impl FnMut(&Incoming) + 'static) {
        self.on_event(move |event| {
            if let SocketEvent::Message(message) = event {
                listener(message);
            }
        });
    }

    /// Calls `listener` with every socket event (opens, closes, reconnect attempts, messages) for
    /// as long as the current reactive owner lives.
    pub fn on_event(&self, listener: impl FnMut(&SocketEvent) + 'static) {
        if let Some(subscription) = self.with_socket(|socket| socket.on(listener)) {
            // Owned by the current owner: dropped, and so detached, when it is cleaned up.
            StoredValue::new_local(subscription);
        }
    }
}
