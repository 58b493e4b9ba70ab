//! `Socket`: the Rust API over the engine (`engine.rs`), with serde for envelopes.

use crate::{
    ConnectError, ConnectionState, Incoming, JsonValue, Outgoing, ReadyState, RequestError,
    SendError, SocketEvent, SocketOptions,
    engine::{self, Engine, Event, Host, Settled, UrlSource},
    machine::{self, BadClose},
    url::resolve_url,
};
use futures_channel::oneshot;
use serde::Serialize;
use std::{
    cell::{Cell, RefCell},
    fmt,
    future::Future,
    rc::{Rc, Weak},
    time::Duration,
};
use tether_protocol::ErrorCode;
use wasm_bindgen::JsCast;

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
    inner: Rc<Engine<Listeners>>,
}

/// A handle that does not keep the socket alive; for use inside listeners.
#[derive(Clone)]
pub struct WeakSocket {
    inner: Weak<Engine<Listeners>>,
}

/// Keeps a listener attached; dropping it detaches the listener.
#[must_use = "the listener is removed when the subscription is dropped"]
pub struct Subscription {
    inner: Weak<Engine<Listeners>>,
    id: u64,
}

type Callback = Rc<RefCell<dyn FnMut(&SocketEvent)>>;

/// The Rust API's [`Host`]: events go to the closures given to [`Socket::on`], acks are read
/// with serde.
struct Listeners {
    // Kept apart from the engine's state so listeners can call back into the socket while an
    // event is dispatched.
    callbacks: RefCell<Vec<(u64, Callback)>>,
    next: Cell<u64>,
}

impl Host for Listeners {
    type Ack = Result<(), RequestError>;

    fn emit(&self, event: Event<'_>) {
        let event = match event {
            Event::State(state) => SocketEvent::State(state),
            Event::Open { reconnected } => SocketEvent::Open { reconnected },
            Event::Message { event, text } => match text {
                Some(text) => SocketEvent::Message(Incoming::Text(text)),
                None => match event.data().dyn_ref::<js_sys::ArrayBuffer>() {
                    Some(buffer) => SocketEvent::Message(Incoming::Binary(
                        js_sys::Uint8Array::new(buffer).to_vec(),
                    )),
                    None => return,
                },
            },
            Event::Error => SocketEvent::Error,
            Event::Close(info) => SocketEvent::Close(info),
            Event::Reconnecting { attempt, delay } => SocketEvent::Reconnecting { attempt, delay },
            Event::HeartbeatTimeout => SocketEvent::HeartbeatTimeout,
            Event::GaveUp => SocketEvent::GaveUp,
        };
        let callbacks: Vec<Callback> = self
            .callbacks
            .borrow()
            .iter()
            .map(|(_, c)| Rc::clone(c))
            .collect();
        for callback in callbacks {
            // A listener that triggers an event inside itself would borrow twice: skip it for
            // that nested event rather than panic.
            if let Ok(mut callback) = callback.try_borrow_mut() {
                callback(&event);
            }
        }
    }

    fn read_ack(text: &str) -> Option<(u64, Self::Ack)> {
        // Called only for texts holding `"ack"` (the engine looks first). The browser's parser
        // rather than serde: a serde decoder here would link serde_json's deserializer into
        // every app, whether or not the app decodes anything itself.
        let frame = JsonValue::parse(text)?;
        if frame.string("type")? != "ack" {
            return None;
        }
        let ack = frame.get("payload")?;
        // Only numeric ids are ours: `request` numbers its requests.
        let id = ack.get("id")?.as_u64()?;
        let result = if ack.get("ok")?.as_bool()? {
            Ok(())
        } else {
            Err(RequestError::Refused {
                code: ack.string("code").map(|code| ErrorCode::from_name(&code)),
                message: ack.string("error").unwrap_or_default(),
            })
        };
        Some((id, result))
    }
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
        let url = resolve_url(url, engine::page_url().as_deref())?;
        Ok(Self::start(UrlSource::Fixed(url), options))
    }

    /// Connects to the URL `provider` gives, calling it before every attempt (it may be async,
    /// e.g. to fetch a fresh token). An `Err` counts as a failed attempt.
    pub fn with_url_provider<F, Fut>(provider: F, options: SocketOptions) -> Self
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<String, String>> + 'static,
    {
        let provider = move |engine: &Rc<Engine<Listeners>>, attempt| {
            let url = provider();
            let weak = Rc::downgrade(engine);
            wasm_bindgen_futures::spawn_local(async move {
                let url = url.await;
                if let Some(engine) = weak.upgrade() {
                    engine.open(attempt, url);
                }
            });
        };
        Self::start(UrlSource::Provider(Rc::new(provider)), options)
    }

    fn start(url: UrlSource<Listeners>, options: SocketOptions) -> Self {
        let listeners = Listeners {
            callbacks: RefCell::new(Vec::new()),
            next: Cell::new(0),
        };
        Self {
            inner: Engine::start(url, options, listeners),
        }
    }

    /// A handle that does not keep the socket alive.
    pub fn downgrade(&self) -> WeakSocket {
        WeakSocket {
            inner: Rc::downgrade(&self.inner),
        }
    }

    /// Calls `listener` with every event until the returned [`Subscription`] is dropped.
    pub fn on(&self, listener: impl FnMut(&SocketEvent) + 'static) -> Subscription {
        let host = self.inner.host();
        let id = host.next.get();
        host.next.set(id + 1);
        host.callbacks
            .borrow_mut()
            .push((id, Rc::new(RefCell::new(listener))));
        Subscription {
            inner: Rc::downgrade(&self.inner),
            id,
        }
    }

    /// Where the socket is in its life.
    pub fn state(&self) -> ConnectionState {
        self.inner.status()
    }

    /// The browser-style ready state: 0 connecting (also while waiting to reconnect), 1 open,
    /// 2 closing, 3 closed.
    pub fn ready_state(&self) -> ReadyState {
        self.state().ready_state()
    }

    /// The URL of the current connection, if there is one.
    pub fn url(&self) -> Option<String> {
        self.inner.url()
    }

    /// The subprotocol the server chose, or `""` (also while not connected).
    pub fn protocol(&self) -> String {
        self.inner.protocol()
    }

    /// Bytes handed to the browser and not yet sent.
    pub fn buffered_amount(&self) -> u32 {
        self.inner.buffered_amount()
    }

    /// Messages waiting in the send queue.
    pub fn queued(&self) -> usize {
        self.inner.queued().0
    }

    /// Reconnect attempts since the counter last reset.
    pub fn attempts(&self) -> u32 {
        self.inner.attempts()
    }

    /// Sends a text message now if open, else queues it for the next open.
    pub fn send_text(&self, text: impl Into<String>) -> Result<(), SendError> {
        self.inner.send(Outgoing::Text(text.into()))
    }

    /// Sends a binary message now if open, else queues it for the next open.
    pub fn send_binary(&self, bytes: impl Into<Vec<u8>>) -> Result<(), SendError> {
        self.inner.send(Outgoing::Binary(bytes.into()))
    }

    /// Sends any serde value as JSON text (a `tether_protocol::ClientFrame`, say).
    pub fn send_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), SendError> {
        self.send_text(encode(value)?)
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
        let id = self.inner.next_request_id();
        let (tx, rx) = oneshot::channel();
        let reply = Box::new(move |settled| {
            let _ = tx.send(match settled {
                Settled::Ack(result) => result,
                Settled::Timeout => Err(RequestError::Timeout(timeout)),
                Settled::Closed => Err(RequestError::Closed),
            });
        });
        let sent = encode(&Envelope {
            kind,
            payload,
            id: Some(id),
        })
        .and_then(|text| self.inner.request(id, Outgoing::Text(text), timeout, reply));
        async move {
            sent?;
            // A dropped socket drops its pending requests: that is a close too.
            rx.await.unwrap_or(Err(RequestError::Closed))
        }
    }

    /// Joins a room (`{"type":"join","payload":{"roomId":room}}`) and, with
    /// [`SocketOptions::rejoin`], remembers it to join again after every reconnect.
    pub fn join(&self, room: &str) -> Result<(), SendError> {
        self.inner
            .join(room, Outgoing::Text(room_frame("join", room)?))
    }

    /// Leaves a room and forgets it.
    pub fn leave(&self, room: &str) -> Result<(), SendError> {
        self.inner
            .leave(room, Outgoing::Text(room_frame("leave", room)?))
    }

    /// The rooms joined with [`join`](Self::join) and not left.
    pub fn rooms(&self) -> Vec<String> {
        self.inner.rooms()
    }

    /// Closes the socket for good: no reconnect follows, queued sends are dropped, pending
    /// requests fail with [`RequestError::Closed`]. `code` must be 1000 or 3000–4999 (the browser
    /// allows no others) and `reason` at most 123 bytes.
    pub fn close(&self, code: u16, reason: &str) -> Result<(), SendError> {
        match machine::check_close(code, reason.len()) {
            Ok(()) => {
                self.inner.close(code, reason);
                Ok(())
            }
            Err(BadClose::Code) => Err(SendError::Browser(format!(
                "close code {code} is not 1000 or 3000-4999"
            ))),
            Err(BadClose::Reason) => {
                Err(SendError::Browser("close reason is over 123 bytes".into()))
            }
        }
    }

    /// Connects again now: after the attempts ran out, after `close()`, or to replace a
    /// connection that looks stuck. Starts the attempt counter over.
    pub fn reconnect(&self) {
        self.inner.reconnect();
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
                .host()
                .callbacks
                .borrow_mut()
                .retain(|(id, _)| *id != self.id);
        }
    }
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("state", &self.state())
            .field("queued", &self.queued())
            .field("rooms", &self.rooms())
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

fn encode<T: Serialize + ?Sized>(value: &T) -> Result<String, SendError> {
    serde_json::to_string(value).map_err(|e| SendError::Encode(e.to_string()))
}

fn room_frame(kind: &str, room: &str) -> Result<String, SendError> {
    encode(&Envelope {
        kind,
        payload: &RoomPayload { room_id: room },
        id: None,
    })
}
