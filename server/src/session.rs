//! One client's protocol state: what it may do, and what each message causes.

use crate::{
    ClientId, Config, Frame, Metrics, Peer, Refusal, Rooms,
    backplane::Backplane,
    catch_up::CatchUp,
    decode::{DecodeError, decode},
    display_name,
    outbox::Stop,
    rates::{AddressRates, Admit, Kind, Rates},
    refusal::{too_long, truncate},
    rooms::{self, Delivery},
    store::{Appended, Entry, Head, NewMessage, Reading, Store, StoreError},
};
use futures_util::FutureExt;
use std::{
    net::IpAddr,
    sync::Arc,
    sync::atomic::Ordering,
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tether_protocol::{
    Ack, ChatMessage, ClientMessage, Connected, ErrorCode, ErrorPayload, HistoryRequest, JoinRoom,
    Joined, Presence, PrivateMessage, RAW_PING, RAW_PONG, RequestId, SendText, ServerMessage,
    Typing,
};

/// The protocol side of one connection, free of any socket: it turns each incoming text into
/// pushes to outboxes (its own and other members'). Dropping it leaves every room it is in, tells
/// the other members, and forgets the client.
#[derive(Debug)]
pub struct Session {
    peer: Arc<Peer>,
    // One pointer for the server's rooms, store, configuration and metrics: every idle
    // connection holds a session.
    shared: Arc<Shared>,
    // The rooms this client is in, so a disconnect can leave them without asking the room map.
    // A vector, not a set: at most `--max-rooms-per-client` (100), usually one or two, and every
    // idle connection pays for the empty table and its allocation a set would keep.
    joined: Vec<Arc<str>>,
    // How fast this client may send; checked before any message is carried out.
    rates: Rates,
    // Where the client connects from, for its address's shared budgets.
    ip: IpAddr,
    // A request waiting for the store or the backplane (a server to ask); nothing else the
    // client sent is read until it is settled (`settle`). Boxed: rare.
    waiting: Option<Box<Waiting>>,
}

/// A request whose answer is on its way.
enum Waiting {
    /// A join, for its room's head.
    Join {
        join: JoinRoom,
        id: Option<RequestId>,
        head: Reading<Head>,
    },
    /// A request answered once `answer` resolves (a presence list, a private message to a
    /// client on another node).
    Answer {
        id: Option<RequestId>,
        answer: std::pin::Pin<Box<dyn Future<Output = Result<(), Refusal>> + Send>>,
    },
}

impl std::fmt::Debug for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Join { join, id, .. } => f
                .debug_struct("Join")
                .field("join", join)
                .field("id", id)
                .finish_non_exhaustive(),
            Self::Answer { id, .. } => f
                .debug_struct("Answer")
                .field("id", id)
                .finish_non_exhaustive(),
        }
    }
}

/// How long a request waits for the store or the backplane before it is refused as
/// `unavailable`.
const WAIT: Duration = Duration::from_secs(5);

fn timed_out() -> StoreError {
    StoreError::Unavailable("the cluster did not answer in time".into())
}

/// What the connection should do after a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Verdict {
    /// Keep serving the client.
    Continue,
    /// The client keeps sending after being refused for its rate: close it (1008).
    Flood,
}

/// What every session of a server shares.
#[derive(Debug)]
pub struct Shared {
    /// This node's rooms.
    pub rooms: Arc<dyn Rooms>,
    /// What reaches the rooms' members on other nodes.
    pub backplane: Arc<dyn Backplane>,
    /// The history.
    pub store: Arc<dyn Store>,
    /// The configuration.
    pub config: Arc<Config>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// The budgets every connection from one IP address shares.
    pub addresses: AddressRates,
    /// Token auth, when configured.
    pub auth: Option<crate::auth::Auth>,
}

impl Session {
    /// Registers the client with `rooms` (ending an older connection of the same client, which
    /// this one replaces) and queues its `connected` message, with `resume_token` when given.
    pub fn start(
        peer: Arc<Peer>,
        shared: &Arc<Shared>,
        ip: IpAddr,
        resume_token: Option<String>,
    ) -> Self {
        if let Some(older) = shared.rooms.connect(&peer) {
            older.outbox().stop(Stop::Replaced);
        }
        shared.backplane.connected(&peer);
        shared.metrics.connections.inc();
        shared.metrics.connections_accepted.inc();
        let session = Self {
            peer,
            rates: Rates::new(&shared.config),
            shared: Arc::clone(shared),
            joined: Vec::new(),
            ip,
            waiting: None,
        };
        let identity = session.peer.identity();
        session.reply(&ServerMessage::Connected(Connected {
            client_id: session.id().to_string(),
            resume_token,
            user_id: identity.map(|i| i.user.to_string()),
            name: identity.and_then(|i| i.name.as_deref().map(str::to_owned)),
        }));
        session
    }

    /// The client's id.
    pub fn id(&self) -> ClientId {
        self.peer.id()
    }

    /// The client's peer (its outbox and name).
    pub fn peer(&self) -> &Arc<Peer> {
        &self.peer
    }

    /// Whether a request is waiting for the store or the backplane ([`settle`](Self::settle)
    /// before reading more).
    pub fn waiting(&self) -> bool {
        self.waiting.is_some()
    }

    /// Finishes a request that waited (a join for its room's head, a presence list, a private
    /// message to another node): the client's next message is handled only after it, as with a
    /// request answered at once.
    pub async fn settle(&mut self) {
        let Some(waiting) = self.waiting.take() else {
            return;
        };
        match *waiting {
            Waiting::Join { join, id, head } => {
                let head = tokio::time::timeout(WAIT, head)
                    .await
                    .unwrap_or_else(|_| Err(timed_out()));
                if let Some(result) = self.join_at(join, id.clone(), head) {
                    self.answer(id, result);
                }
            }
            Waiting::Answer { id, answer } => {
                let result = tokio::time::timeout(WAIT, answer)
                    .await
                    .unwrap_or_else(|_| Err(unavailable(&timed_out())));
                self.answer(id, result);
            }
        }
    }

    /// Handles one text message from the client.
    pub fn handle_text(&mut self, text: &str) -> Verdict {
        self.shared.metrics.messages_in.inc();
        // The guide's `WebSocketClient` pings with the bare text `ping` and expects `pong`.
        if text == RAW_PING {
            return match self.rates.admit(Kind::Message) {
                Admit::Allowed | Admit::Drop => {
                    self.push(Frame::raw(RAW_PONG));
                    Verdict::Continue
                }
                Admit::Refused(wait) => self.refuse_for_rate(None, "messages", wait),
                Admit::Flood => Verdict::Flood,
            };
        }
        let (id, result) = match decode(text) {
            Ok(frame) => {
                let (kind, what) = match &frame.message {
                    ClientMessage::Join(_) => (Kind::Join, "joins"),
                    ClientMessage::Typing(_) => (Kind::Typing, "typing notices"),
                    _ => (Kind::Message, "messages"),
                };
                let text = match &frame.message {
                    ClientMessage::Message(m) => m.text.len(),
                    ClientMessage::Private(p) => p.text.len(),
                    _ => 0,
                };
                // The connection's own budget, then its address's, which all its connections
                // share (messages, and bytes of chat text).
                let admitted = match self.rates.admit(kind) {
                    Admit::Allowed if kind == Kind::Message => {
                        match self.shared.addresses.admit_message(self.ip, text) {
                            Some(wait) => self.rates.strike(wait),
                            None => Admit::Allowed,
                        }
                    }
                    other => other,
                };
                match admitted {
                    Admit::Allowed => match self.dispatch(frame.message, frame.id.clone()) {
                        Some(result) => (frame.id, result),
                        // Answered once the store has settled it.
                        None => return Verdict::Continue,
                    },
                    // A typing notice is a hint; one too many is simply not passed on.
                    Admit::Drop => {
                        self.shared.metrics.typing_over_rate.inc();
                        (frame.id, Ok(()))
                    }
                    Admit::Refused(wait) => return self.refuse_for_rate(frame.id, what, wait),
                    Admit::Flood => return Verdict::Flood,
                }
            }
            // Undecodable text costs the server as much as a message, and counts as one.
            Err(DecodeError { id, refusal }) => match self.rates.admit(Kind::Message) {
                Admit::Allowed | Admit::Drop => (id, Err(refusal)),
                Admit::Refused(wait) => return self.refuse_for_rate(id, "messages", wait),
                Admit::Flood => return Verdict::Flood,
            },
        };
        self.answer(id, result);
        Verdict::Continue
    }

    /// Handles one binary message. Like the guide's Node server, which hands any frame to
    /// `JSON.parse`, the server reads binary messages as UTF-8 JSON.
    pub fn handle_binary(&mut self, bytes: &[u8]) -> Verdict {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.handle_text(text),
            Err(_) => {
                self.shared.metrics.messages_in.inc();
                let refusal = Refusal::new(
                    ErrorCode::InvalidJson,
                    "invalid JSON: a binary message must hold UTF-8 JSON",
                );
                match self.rates.admit(Kind::Message) {
                    Admit::Allowed | Admit::Drop => {
                        self.answer(None, Err(refusal));
                        Verdict::Continue
                    }
                    Admit::Refused(wait) => self.refuse_for_rate(None, "messages", wait),
                    Admit::Flood => Verdict::Flood,
                }
            }
        }
    }

    /// Counts a WebSocket ping or pong from the client against its message rate: a ping costs
    /// the server a pong, and a flood of them must end like any other flood. There is no one to
    /// tell about a refusal here, so only the flood matters.
    pub fn handle_control(&mut self) -> Verdict {
        self.shared.metrics.control_frames_in.inc();
        match self.rates.admit(Kind::Message) {
            Admit::Flood => Verdict::Flood,
            Admit::Refused(_) => {
                self.shared.metrics.rate_limited.inc();
                Verdict::Continue
            }
            Admit::Allowed | Admit::Drop => Verdict::Continue,
        }
    }

    fn refuse_for_rate(
        &self,
        id: Option<RequestId>,
        what: &str,
        wait: std::time::Duration,
    ) -> Verdict {
        self.shared.metrics.rate_limited.inc();
        self.answer(id, Err(Refusal::rate_limited(what, wait)));
        Verdict::Continue
    }

    fn answer(&self, id: Option<RequestId>, result: Result<(), Refusal>) {
        if let Err(refusal) = &result {
            self.shared.metrics.refused.inc();
            if id.is_none() {
                self.reply(&ServerMessage::Error(ErrorPayload {
                    message: refusal.message.clone(),
                    code: Some(refusal.code),
                    retry_after_ms: refusal.retry_after_ms(),
                }));
            }
        }
        if let Some(id) = id {
            let ack = match result {
                Ok(()) => Ack::ok(id),
                Err(refusal) => Ack {
                    retry_after_ms: refusal.retry_after_ms(),
                    ..Ack::failed(id, refusal.code, refusal.message)
                },
            };
            self.reply(&ServerMessage::Ack(ack));
        }
    }

    /// Carries out one message. `None`: it is answered later, by whoever settles it (the store,
    /// or a catch-up reading history), ack included.
    fn dispatch(
        &mut self,
        message: ClientMessage,
        id: Option<RequestId>,
    ) -> Option<Result<(), Refusal>> {
        Some(match message {
            ClientMessage::Join(join) => return self.join(join, id),
            ClientMessage::Message(send) => return self.message(send, id),
            ClientMessage::History(request) => return self.history(request, id),
            ClientMessage::Leave(r) => self.leave(&r.room_id),
            ClientMessage::Typing(r) => self.typing(&r.room_id),
            ClientMessage::Private(p) => return self.private(&p.to, p.text, id),
            ClientMessage::Presence(r) => return self.presence(&r.room_id, id),
            ClientMessage::Identify(i) => self.identify(&i.name),
            ClientMessage::Ping => {
                self.reply(&ServerMessage::Pong);
                Ok(())
            }
            ClientMessage::Refresh(refresh) => self.refresh(&refresh.token),
            // `ClientMessage` is non-exhaustive for other crates only; this arm keeps the match
            // honest if a variant is added without a handler.
            #[allow(unreachable_patterns)]
            other => Err(Refusal::new(
                ErrorCode::UnknownType,
                format!("message type \"{}\" is not supported", other.type_name()),
            )),
        })
    }

    fn join(&mut self, join: JoinRoom, id: Option<RequestId>) -> Option<Result<(), Refusal>> {
        if let Err(refusal) = self.check_room_id(&join.room_id) {
            return Some(Err(refusal));
        }
        if self
            .peer
            .identity()
            .is_some_and(|i| !i.may_join(&join.room_id))
        {
            return Some(Err(Refusal::new(
                ErrorCode::Forbidden,
                format!(
                    "the token does not allow room \"{}\"",
                    truncate(&join.room_id, 64)
                ),
            )));
        }
        if !self.in_room(&join.room_id)
            && self.joined.len() >= self.shared.config.max_rooms_per_client
        {
            return Some(Err(Refusal::new(
                ErrorCode::TooManyRooms,
                format!(
                    "already in {} rooms, the most allowed",
                    self.shared.config.max_rooms_per_client
                ),
            )));
        }
        let mut head = self.shared.store.head(&join.room_id);
        match (&mut head).now_or_never() {
            Some(head) => self.join_at(join, id, head),
            None => {
                self.waiting = Some(Box::new(Waiting::Join { join, id, head }));
                None
            }
        }
    }

    /// Joins a checked room whose head the store gave.
    fn join_at(
        &mut self,
        join: JoinRoom,
        id: Option<RequestId>,
        head: Result<Head, StoreError>,
    ) -> Option<Result<(), Refusal>> {
        let head = match head {
            Ok(head) => head,
            Err(err) => return Some(Err(unavailable(&err))),
        };
        let room_id = join.room_id;
        let recent = join.recent.unwrap_or(0).min(MAX_PAGE);
        if join.since.is_none() && recent == 0 {
            // A plain join: answered at once, with where the room's history stands.
            let welcome = |joined: rooms::Joined| {
                Frame::encode(&ServerMessage::Joined(Joined {
                    epoch: Some(head.epoch.to_string()),
                    seq: Some(joined.seq),
                    ..Joined::new(room_id.clone(), joined.members)
                }))
            };
            let (joined, push) = self
                .shared
                .rooms
                .join(&room_id, &self.peer, head.seq, &welcome);
            let mut delivery = Delivery::default();
            delivery.record(push);
            self.count(delivery);
            self.joined_room(&room_id, joined.new_member);
            return Some(Ok(()));
        }
        // With `since` or `recent`: subscribed now, with the room's messages held back while what
        // came before is read; `joined`, those messages and the ack follow from the catch-up.
        let joined = self.shared.rooms.join_held(&room_id, &self.peer, head.seq);
        self.joined_room(&room_id, joined.new_member);
        let catch_up = CatchUp {
            rooms: Arc::clone(&self.shared.rooms),
            store: Arc::clone(&self.shared.store),
            peer: Arc::clone(&self.peer),
            room: room_id,
            epoch: head.epoch,
            members: joined.members,
            until: joined.seq,
            since: join.since,
            recent,
            max_replay: self.shared.config.max_replay,
        };
        tokio::spawn(catch_up.run(id));
        None
    }

    fn in_room(&self, room_id: &str) -> bool {
        self.joined.iter().any(|r| &**r == room_id)
    }

    /// Records a room joined and, for a new member, tells the room.
    fn joined_room(&mut self, room_id: &str, new_member: bool) {
        if !self.in_room(room_id) {
            // Grown one at a time: most clients are in one room, and `push` alone would
            // reserve four.
            self.joined.reserve_exact(1);
            self.joined.push(Arc::from(room_id));
        }
        let delivery = self
            .shared
            .backplane
            .joined(room_id, &self.peer, new_member);
        self.count(delivery);
    }

    fn leave(&mut self, room_id: &str) -> Result<(), Refusal> {
        let Some(at) = self.joined.iter().position(|r| &**r == room_id) else {
            return Err(not_in_room(room_id));
        };
        self.joined.swap_remove(at);
        self.leave_room(room_id);
        Ok(())
    }

    /// Leaves a room this client is in and tells whoever remains.
    fn leave_room(&self, room_id: &str) {
        let shared = &self.shared;
        leave(
            (&*shared.rooms, &*shared.backplane, &shared.metrics),
            &self.peer,
            room_id,
        );
    }

    /// Stores a room message; once it is durable, the store's writer publishes it to the room and
    /// acks it with its `seq`. Nothing is published or acked that was not stored.
    fn message(&self, send: SendText, id: Option<RequestId>) -> Option<Result<(), Refusal>> {
        let checked = self
            .check_member(&send.room_id)
            .and_then(|()| self.check_text(&send.text))
            .and_then(|()| check_cid(send.cid.as_deref()));
        if let Err(refusal) = checked {
            return Some(Err(refusal));
        }
        let message = NewMessage {
            room: Arc::from(send.room_id),
            from: self.peer.user(),
            sender: self.id(),
            name: self.name(),
            text: send.text,
            timestamp: now_millis(),
            cid: send.cid,
        };
        let sender = Arc::clone(&self.peer);
        let backplane = Arc::clone(&self.shared.backplane);
        let metrics = Arc::clone(&self.shared.metrics);
        let room = Arc::clone(&message.room);
        self.shared.store.append(
            message,
            Box::new(move |settled| {
                let ack = match settled {
                    Ok(Appended::Stored { entry, epoch }) => {
                        let seq = entry.seq;
                        let frame =
                            Frame::encode(&ServerMessage::Message(chat_message(&room, entry)))
                                .with_seq(seq);
                        let delivery = backplane.stored(&room, &frame, &sender);
                        metrics.messages_out.inc_by(delivery.queued);
                        metrics.dropped.inc_by(delivery.dropped);
                        id.map(|id| stored_ack(id, seq, &epoch, false))
                    }
                    Ok(Appended::Duplicate { seq, epoch }) => {
                        id.map(|id| stored_ack(id, seq, &epoch, true))
                    }
                    Err(err) => {
                        metrics.refused.inc();
                        let refusal = unavailable(&err);
                        Some(match id {
                            Some(id) => {
                                ServerMessage::Ack(Ack::failed(id, refusal.code, refusal.message))
                            }
                            None => ServerMessage::Error(ErrorPayload {
                                message: refusal.message,
                                code: Some(refusal.code),
                                retry_after_ms: None,
                            }),
                        })
                    }
                };
                if let Some(ack) = ack {
                    sender.push(Frame::encode(&ack));
                }
            }),
        );
        None
    }

    /// Answers a page of the room's older messages, read off the runtime.
    fn history(
        &self,
        request: HistoryRequest,
        id: Option<RequestId>,
    ) -> Option<Result<(), Refusal>> {
        if let Err(refusal) = self.check_member(&request.room_id) {
            return Some(Err(refusal));
        }
        let store = Arc::clone(&self.shared.store);
        let peer = Arc::clone(&self.peer);
        let limit = request.limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE) as usize;
        let before = request.before.unwrap_or(u64::MAX);
        let room = request.room_id;
        tokio::spawn(async move {
            let read = match store.head(&room).await {
                Ok(head) => store
                    .before(&room, before, limit + 1)
                    .await
                    .map(|entries| (head, entries)),
                Err(err) => Err(err),
            };
            let answer = match read {
                Ok((head, mut entries)) => {
                    let more = entries.len() > limit;
                    if more {
                        entries.remove(0);
                    }
                    let messages = entries
                        .into_iter()
                        .map(|e| chat_message(&room, e))
                        .collect();
                    peer.push(Frame::encode(&ServerMessage::History(
                        tether_protocol::History {
                            room_id: room,
                            epoch: head.epoch.to_string(),
                            messages,
                            more,
                        },
                    )));
                    id.map(Ack::ok)
                }
                Err(err) => id.map(|id| {
                    let refusal = unavailable(&err);
                    Ack::failed(id, refusal.code, refusal.message)
                }),
            };
            if let Some(ack) = answer {
                peer.push(Frame::encode(&ServerMessage::Ack(ack)));
            }
        });
        None
    }

    fn typing(&self, room_id: &str) -> Result<(), Refusal> {
        self.check_member(room_id)?;
        let typing = ServerMessage::Typing(Typing {
            user_id: self.peer.user(),
            room_id: room_id.to_owned(),
            name: self.name(),
        });
        self.publish(room_id, &Frame::encode(&typing).droppable());
        Ok(())
    }

    fn private(
        &mut self,
        to: &str,
        text: String,
        id: Option<RequestId>,
    ) -> Option<Result<(), Refusal>> {
        if let Err(refusal) = self.check_text(&text) {
            return Some(Err(refusal));
        }
        let Ok(recipient) = to.parse::<ClientId>() else {
            return Some(Err(no_such_client(to)));
        };
        let frame = Frame::encode(&ServerMessage::Private(PrivateMessage {
            from: self.id().to_string(),
            to: recipient.to_string(),
            text,
            timestamp: now_millis(),
            name: self.name(),
            user_id: self.peer.identity().map(|i| i.user.to_string()),
        }));
        if let Some(push) = self.shared.rooms.send_to(recipient, frame.clone()) {
            let mut delivery = Delivery::default();
            delivery.record(push);
            self.count(delivery);
            return Some(Ok(()));
        }
        // Not here: on another node, or nowhere.
        let sent = self.shared.backplane.send_to(recipient, &frame);
        let (to, metrics) = (to.to_owned(), Arc::clone(&self.shared.metrics));
        self.later(id, async move {
            match sent.await {
                Ok(true) => {
                    metrics.messages_out.inc();
                    Ok(())
                }
                Ok(false) => Err(no_such_client(&to)),
                Err(err) => Err(unavailable(&err)),
            }
        })
    }

    fn presence(&mut self, room_id: &str, id: Option<RequestId>) -> Option<Result<(), Refusal>> {
        if let Err(refusal) = self.check_member(room_id) {
            return Some(Err(refusal));
        }
        // A room can be larger than what one answer should put in the asker's queue: list the
        // first `max_presence_members` and say how many there are.
        let roster = self
            .shared
            .backplane
            .presence(room_id, self.shared.config.max_presence_members);
        let (peer, metrics) = (Arc::clone(&self.peer), Arc::clone(&self.shared.metrics));
        let room_id = room_id.to_owned();
        self.later(id, async move {
            let roster = roster.await.map_err(|err| unavailable(&err))?;
            let total = (roster.members.len() < roster.total).then_some(roster.total);
            if total.is_some() {
                metrics.presence_truncated.inc();
            }
            let presence = ServerMessage::Presence(Presence {
                room_id,
                members: roster.members,
                total,
            });
            let mut delivery = Delivery::default();
            delivery.record(peer.push(Frame::encode(&presence)));
            metrics.messages_out.inc_by(delivery.queued);
            Ok(())
        })
    }

    /// Answers now if `answer` is ready; otherwise the connection waits for it
    /// ([`settle`](Self::settle)) before reading the client's next message.
    fn later(
        &mut self,
        id: Option<RequestId>,
        answer: impl Future<Output = Result<(), Refusal>> + Send + 'static,
    ) -> Option<Result<(), Refusal>> {
        let mut answer = Box::pin(answer);
        match (&mut answer).now_or_never() {
            Some(result) => Some(result),
            None => {
                self.waiting = Some(Box::new(Waiting::Answer { id, answer }));
                None
            }
        }
    }

    fn identify(&self, name: &str) -> Result<(), Refusal> {
        if self.peer.identity().is_some_and(|i| i.name.is_some()) {
            return Err(Refusal::new(
                ErrorCode::Forbidden,
                "the name comes from the token and cannot be changed",
            ));
        }
        let name = display_name::check(name, self.shared.config.max_name_bytes)?;
        self.peer.set_name(Arc::from(name));
        Ok(())
    }

    /// Takes a fresh token for this connection: the same user, a later expiry.
    fn refresh(&self, token: &str) -> Result<(), Refusal> {
        let (Some(auth), Some(identity)) = (&self.shared.auth, self.peer.identity()) else {
            // Nothing expires without auth.
            return Ok(());
        };
        let fresh = auth
            .verify(token, SystemTime::now())
            .map_err(|_| Refusal::new(ErrorCode::InvalidToken, "the token is not valid"))?;
        if fresh.user != identity.user {
            return Err(Refusal::new(
                ErrorCode::Forbidden,
                "the token is another user's",
            ));
        }
        let expires = fresh.expires.load(Ordering::Relaxed);
        identity.expires.fetch_max(expires, Ordering::Relaxed);
        Ok(())
    }

    /// Whether the connection's token has expired (it is then closed with 4419).
    pub fn token_expired(&self) -> bool {
        self.peer
            .identity()
            .is_some_and(|i| i.expired(SystemTime::now()))
    }

    fn check_room_id(&self, room_id: &str) -> Result<(), Refusal> {
        if room_id.is_empty() {
            return Err(Refusal::new(ErrorCode::Empty, "roomId is empty"));
        }
        if room_id.len() > self.shared.config.max_room_id_bytes {
            return Err(too_long("roomId", self.shared.config.max_room_id_bytes));
        }
        Ok(())
    }

    fn check_member(&self, room_id: &str) -> Result<(), Refusal> {
        if self.in_room(room_id) {
            Ok(())
        } else {
            Err(not_in_room(room_id))
        }
    }

    fn check_text(&self, text: &str) -> Result<(), Refusal> {
        if text.is_empty() {
            return Err(Refusal::new(ErrorCode::Empty, "text is empty"));
        }
        if text.len() > self.shared.config.max_text_bytes {
            return Err(too_long("text", self.shared.config.max_text_bytes));
        }
        Ok(())
    }

    fn name(&self) -> Option<String> {
        self.peer.name().map(|n| n.to_string())
    }

    fn publish(&self, room_id: &str, frame: &Frame) {
        let delivery = self.shared.backplane.event(room_id, frame, &self.peer);
        self.count(delivery);
    }

    fn reply(&self, message: &ServerMessage) {
        self.push(Frame::encode(message));
    }

    fn push(&self, frame: Frame) {
        let mut delivery = Delivery::default();
        delivery.record(self.peer.push(frame));
        self.count(delivery);
    }

    fn count(&self, delivery: Delivery) {
        self.shared.metrics.messages_out.inc_by(delivery.queued);
        self.shared.metrics.dropped.inc_by(delivery.dropped);
    }
}

impl Drop for Session {
    /// Leaves every room: at once with no `--rejoin-grace`; otherwise after it, unless the
    /// client is back in the room by then (a newer connection with its resume token took its
    /// place), so a reconnect within the grace shows its rooms no `user:left` and `user:joined`.
    fn drop(&mut self) {
        let joined = std::mem::take(&mut self.joined);
        let grace = self.shared.config.rejoin_grace;
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) if !grace.is_zero() && !joined.is_empty() => {
                // Not the whole `Shared`: the store must close with the server, not after the
                // grace (a restart opens the same data folder).
                let (rooms, backplane, metrics, peer) = (
                    Arc::clone(&self.shared.rooms),
                    Arc::clone(&self.shared.backplane),
                    Arc::clone(&self.shared.metrics),
                    Arc::clone(&self.peer),
                );
                runtime.spawn(async move {
                    tokio::time::sleep(grace).await;
                    for room_id in joined {
                        leave((&*rooms, &*backplane, &metrics), &peer, &room_id);
                    }
                });
            }
            _ => {
                for room_id in joined {
                    self.leave_room(&room_id);
                }
            }
        }
        if self.shared.rooms.disconnect(&self.peer) {
            self.shared.backplane.disconnected(&self.peer);
        }
        self.shared.metrics.connections.dec();
    }
}

/// Takes `peer` out of a room, if it is still the client's connection there, and tells whoever
/// remains, here and on other nodes.
fn leave(
    (rooms, backplane, metrics): (&dyn Rooms, &dyn Backplane, &Metrics),
    peer: &Arc<Peer>,
    room_id: &str,
) {
    let Some(remaining) = rooms.leave(room_id, peer) else {
        return;
    };
    let delivery = backplane.left(room_id, peer, remaining);
    metrics.messages_out.inc_by(delivery.queued);
    metrics.dropped.inc_by(delivery.dropped);
}

/// The most messages one `history` answer or `recent` join sends.
const MAX_PAGE: u32 = 100;

/// The longest `cid`, in bytes.
const MAX_CID_BYTES: usize = 64;

fn check_cid(cid: Option<&str>) -> Result<(), Refusal> {
    match cid {
        Some("") => Err(Refusal::new(ErrorCode::Empty, "cid is empty")),
        Some(cid) if cid.len() > MAX_CID_BYTES => Err(too_long("cid", MAX_CID_BYTES)),
        _ => Ok(()),
    }
}

/// The refusal for a store that could not do its part.
pub(crate) fn unavailable(err: &StoreError) -> Refusal {
    let mut refusal = Refusal::new(ErrorCode::Unavailable, err.to_string());
    if matches!(err, StoreError::Busy) {
        refusal.retry_after = Some(std::time::Duration::from_millis(100));
    }
    refusal
}

/// A stored entry as the `message` clients get.
pub(crate) fn chat_message(room: &str, entry: Entry) -> ChatMessage {
    ChatMessage {
        from: entry.from,
        room_id: room.to_owned(),
        text: entry.text,
        timestamp: entry.timestamp,
        name: entry.name,
        seq: Some(entry.seq),
    }
}

fn stored_ack(id: RequestId, seq: u64, epoch: &str, duplicate: bool) -> ServerMessage {
    ServerMessage::Ack(Ack {
        seq: Some(seq),
        epoch: Some(epoch.to_owned()),
        duplicate,
        ..Ack::ok(id)
    })
}

fn no_such_client(to: &str) -> Refusal {
    Refusal::new(
        ErrorCode::NoSuchClient,
        format!("no client \"{}\" is connected", truncate(to, 64)),
    )
}

fn not_in_room(room_id: &str) -> Refusal {
    Refusal::new(
        ErrorCode::NotInRoom,
        format!("not in room \"{}\"", truncate(room_id, 128)),
    )
}

/// Milliseconds since the Unix epoch, as JavaScript's `Date.now()`.
fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
