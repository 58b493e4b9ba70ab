//! `Socket`: the Rust API over the engine (`engine.rs`), with serde for envelopes.

use crate::{
    ConnectError, ConnectionState, Incoming, JsonValue, Outgoing, ReadyState, RequestError,
    SendError, SocketEvent, SocketOptions, TokenProvider,
    engine::{self, Engine, Event, Host, Reply, Settled, Target, UrlSource},
    envelope::{Envelope, encode, request_frame, room_frame},
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
use tether_protocol::{ChatMessage, ErrorCode, History, HistoryRequest, Position, SendText};
use wasm_bindgen::JsCast;

/// A resilient WebSocket: a cheap, cloneable handle over the browser's `WebSocket` that adds a
/// heartbeat, reconnects with backoff and jitter, queues sends while not open, matches requests
/// to the server's acks, and resumes rooms where it left off.
///
/// # Nothing said is lost
/// With a server that keeps history, the socket keeps, per room joined with
/// [`join`](Self::join), the position (`epoch`, `seq`) of the last room message delivered
/// ([`position`](Self::position)). After a reconnect it joins with `since` that position: the
/// server sends what was missed, in order, before live messages, and a message delivered already
/// is dropped, so nothing shows twice. A room the server cannot bring up to date is reported with
/// [`SocketEvent::RoomNotRecovered`] and starts over from the server's current position.
///
/// A chat message sent with [`request`](Self::request)`("message", ..)` gets a `cid`. If its
/// connection drops before the ack, it is sent again, unchanged, on the next connection, right
/// behind the rooms' joins; the server stores a `cid` once. The request resolves once, with the
/// server's ack.
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

/// The Rust API's [`Host`]: events go to the closures given to [`Socket::on`].
struct Listeners {
    // Kept apart from the engine's state so listeners can call back into the socket while an
    // event is dispatched.
    callbacks: RefCell<Vec<(u64, Callback)>>,
    next: Cell<u64>,
}

impl Host for Listeners {
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
            Event::RoomNotRecovered { room, reason } => {
                SocketEvent::RoomNotRecovered { room, reason }
            }
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
}

// Answers are read with the browser's parser (`JsonValue`) rather than serde: a serde decoder
// here would link serde_json's deserializer into every app, whether or not the app decodes
// anything itself.

/// What an ack says: `Ok` for `ok: true`, else the server's refusal.
fn ack_result(ack: &JsonValue) -> Result<(), RequestError> {
    if ack.get("ok").and_then(|ok| ok.as_bool()) == Some(true) {
        Ok(())
    } else {
        Err(RequestError::Refused {
            code: ack.string("code").map(|code| ErrorCode::from_name(&code)),
            message: ack.string("error").unwrap_or_default(),
        })
    }
}

/// Where the server put a chat message sent with [`Socket::send_message`]: its ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// Its position in the room's history; `None` from a server that keeps no history.
    pub seq: Option<u64>,
    /// The room's history epoch; `None` from a server that keeps no history.
    pub epoch: Option<String>,
    /// The server had stored this `cid` already (an earlier copy's ack was lost): `seq` is the
    /// first copy's, and the room saw it once.
    pub duplicate: bool,
}

/// A successful `message` ack's position.
fn read_posted(ack: &JsonValue) -> Result<Posted, RequestError> {
    ack_result(ack)?;
    Ok(Posted {
        seq: ack.get("seq").and_then(|seq| seq.as_u64()),
        epoch: ack.string("epoch"),
        duplicate: ack.get("duplicate").and_then(|d| d.as_bool()) == Some(true),
    })
}

/// A `history` page's payload.
fn read_page(page: &JsonValue) -> Option<History> {
    let messages = page.get("messages")?;
    Some(History {
        room_id: page.string("roomId")?,
        epoch: page.string("epoch")?,
        messages: messages
            .items()?
            .map(|m| read_chat(&m))
            .collect::<Option<Vec<_>>>()?,
        more: page.get("more")?.as_bool()?,
    })
}

fn read_chat(message: &JsonValue) -> Option<ChatMessage> {
    Some(ChatMessage {
        from: message.string("from")?,
        room_id: message.string("roomId")?,
        text: message.string("text")?,
        timestamp: message.get("timestamp")?.as_u64()?,
        name: message.string("name"),
        seq: message.get("seq").and_then(|seq| seq.as_u64()),
    })
}

/// A request's caller: the reply the engine calls, and the future that waits for it.
fn caller<T: 'static>(
    answer: impl FnOnce(Settled) -> Result<T, RequestError> + 'static,
) -> (
    Reply,
    impl Future<Output = Result<T, RequestError>> + 'static,
) {
    let (tx, rx) = oneshot::channel();
    let reply: Reply = Box::new(move |settled| {
        let _ = tx.send(answer(settled));
    });
    // A dropped socket drops its pending requests: that is a close too.
    (reply, async move {
        rx.await.unwrap_or(Err(RequestError::Closed))
    })
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

    /// The URL of the current connection, if there is one. Its `token=` is left out: a bearer
    /// token has no place in what an app may show or log (the `resume=` token, which only gives
    /// the same user its client id back, stays).
    pub fn url(&self) -> Option<String> {
        self.inner.url()
    }

    /// Asks `provider` for a token before every attempt from now on, as
    /// [`SocketOptions::token`](crate::SocketOptions::token) does from the start; `None` stops
    /// presenting one. For a token that can only be had after the socket exists: a user who
    /// signs in once the server has closed with 4401, say. The current connection is left as it
    /// is: [`reconnect`](Self::reconnect) to connect with the token now.
    pub fn set_token(&self, provider: Option<TokenProvider>) {
        self.inner.set_token(provider);
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
    /// with that id arrives: `Ok` if it says `ok`, [`RequestError::Refused`] if not. A request
    /// made while not open is queued like any send.
    ///
    /// A chat message (`kind` `"message"`, a payload with a `roomId`) also gets a `cid` (unless
    /// the payload has one), and is sent again if its connection drops before the ack (see
    /// [`Socket`]): it fails only with [`RequestError::Timeout`], when no ack arrived within
    /// `timeout` of this call, across reconnects. (A message that timed out may still have been
    /// stored: its ack may have been lost with a connection.) Any other request also fails with
    /// [`RequestError::Closed`] if the connection it went out on closes first. Closing the socket
    /// fails every request with `Closed`.
    pub fn request<P: Serialize + ?Sized>(
        &self,
        kind: &str,
        payload: &P,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), RequestError>> + 'static + use<P> {
        let (reply, answer) = caller(move |settled| match settled {
            Settled::Ack(ack) | Settled::Page(ack) => ack_result(&ack),
            Settled::Timeout => Err(RequestError::Timeout(timeout)),
            Settled::Closed => Err(RequestError::Closed),
        });
        let sent = encode(payload).and_then(|payload| {
            let room = (kind == "message")
                .then(|| JsonValue::parse(&payload)?.string("roomId"))
                .flatten();
            let target = room.as_deref().map_or(Target::Plain, Target::Chat);
            self.inner.request(
                target,
                |id, cid| request_frame(kind, &payload, id, cid),
                timeout,
                reply,
            )
        });
        async move {
            sent?;
            answer.await
        }
    }

    /// Sends a chat message (`message {roomId, text, cid}`) and resolves with the server's ack:
    /// where the room's history put it. `cid` names it for the server, which stores a `cid` once
    /// (within its dedupe window); without one, the socket makes one. Sent again after a
    /// reconnect until acked, as with [`request`](Self::request): it fails with
    /// [`RequestError::Timeout`] only after `timeout` (it may have been stored all the same, and
    /// sending it again with the same `cid` then answers `duplicate`), or
    /// [`RequestError::Refused`] when the server refuses it.
    pub fn send_message(
        &self,
        room: &str,
        text: &str,
        cid: Option<&str>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Posted, RequestError>> + 'static + use<> {
        let (reply, answer) = caller(move |settled| match settled {
            Settled::Ack(ack) | Settled::Page(ack) => read_posted(&ack),
            Settled::Timeout => Err(RequestError::Timeout(timeout)),
            Settled::Closed => Err(RequestError::Closed),
        });
        let message = SendText {
            room_id: room.to_owned(),
            text: text.to_owned(),
            cid: cid.map(str::to_owned),
        };
        let sent = encode(&message).and_then(|payload| {
            self.inner.request(
                Target::Chat(room),
                |id, cid| request_frame("message", &payload, id, cid),
                timeout,
                reply,
            )
        });
        async move {
            sent?;
            answer.await
        }
    }

    /// The resume token the next connection presents (`?resume=`): the one the server's latest
    /// `connected` gave, else [`SocketOptions::resume_token`]. Keep it (in `sessionStorage`,
    /// say) to be the same client after a page reload.
    pub fn resume_token(&self) -> Option<String> {
        self.inner.resume_token()
    }

    /// Asks for a page of a room's history (`history {roomId, before?, limit?}`): up to `limit`
    /// messages (the server's most, 100, if `None`) before `seq` `before` (the latest if
    /// `None`), oldest first, and whether older ones remain. The room must have been joined with
    /// [`join`](Self::join). Reads of one room go out one at a time (a page does not say which
    /// read it answers), and a read whose connection drops is sent again; it fails with
    /// [`RequestError::Timeout`] after `timeout`, [`RequestError::Refused`] if the server
    /// refuses it, and [`RequestError::Closed`] if the socket is closed or the room left first.
    pub fn history(
        &self,
        room: &str,
        before: Option<u64>,
        limit: Option<u32>,
        timeout: Duration,
    ) -> impl Future<Output = Result<History, RequestError>> + 'static + use<> {
        let (reply, answer) = caller(move |settled| match settled {
            Settled::Page(page) => read_page(&page).ok_or_else(|| {
                RequestError::Unexpected("a history page that does not read".into())
            }),
            // A page comes before its ack: an ack alone is a refusal, or a room not joined with
            // `join` (whose page cannot be told apart).
            Settled::Ack(ack) => ack_result(&ack).and(Err(RequestError::Unexpected(
                "an ack without a history page".into(),
            ))),
            Settled::Timeout => Err(RequestError::Timeout(timeout)),
            Settled::Closed => Err(RequestError::Closed),
        });
        let request = HistoryRequest {
            room_id: room.to_owned(),
            before,
            limit,
        };
        let sent = encode(&request).and_then(|payload| {
            self.inner.request(
                Target::History(room),
                |id, _| request_frame("history", &payload, id, None),
                timeout,
                reply,
            )
        });
        async move {
            sent?;
            answer.await
        }
    }

    /// Joins a room (`{"type":"join","payload":{"roomId":room}}`, with
    /// [`SocketOptions::recent`] the first time) and, with [`SocketOptions::rejoin`], joins it
    /// again after every reconnect, with `since` its [`position`](Self::position). Joining a
    /// room already joined sends a plain `join` again (the server answers it again).
    pub fn join(&self, room: &str) -> Result<(), SendError> {
        self.inner.join(room)
    }

    /// Where the socket stands in a room joined with [`join`](Self::join): the `epoch` and `seq`
    /// of the last room message delivered (or of the room's latest when it was joined). `None`
    /// before the server's `joined`, or with a server that keeps no history.
    pub fn position(&self, room: &str) -> Option<Position> {
        let (epoch, seq) = self.inner.position(room)?;
        Some(Position { epoch, seq })
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
