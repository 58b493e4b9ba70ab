//! Rooms across nodes on Redis pub/sub, with gaps filled from the Redis store.

use crate::{
    ClientId, Frame, Peer, Rooms,
    backplane::Backplane,
    redis_store::{Published, RedisStore, RoomKeys},
    rooms::Delivery,
    session::chat_message,
    store::{Entry, Store},
};
use futures_util::StreamExt;
use redis::{AsyncCommands, Client, Msg, aio::ConnectionManager};
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};
use tether_protocol::ServerMessage;
use tokio::sync::mpsc;

/// How often every room with members here is checked against its stored top, so that a lost
/// last message (a publication dropped with nothing after it) is delivered anyway.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The first and the longest wait between attempts to reach Redis again.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(2);

/// The [`Backplane`] of a cluster: every node on the same Redis.
///
/// A node subscribes to a room's channel while it has members in it. Room messages come from
/// the [`RedisStore`]'s append script, which publishes each one as it stores it; every node,
/// the sender's included, delivers them from its subscription, so that a room's messages reach
/// this node's members in `seq` order whichever node they were sent to. Pub/sub can drop (a
/// lost connection, a slow subscriber): a node that sees a `seq` jump reads the missing ones
/// from the store first, once for all its members, and checks every room's top every second
/// for a lost last message. After a lost connection it subscribes again and fills what it
/// missed. Events (joins, leaves, typing) are delivered here at once and published to the
/// other nodes; they are not stored, and a lost one is not sent again.
#[derive(Debug)]
pub struct RedisBackplane {
    rooms: Arc<dyn Rooms>,
    connection: ConnectionManager,
    node: Arc<str>,
    watch: mpsc::UnboundedSender<Arc<str>>,
}

impl RedisBackplane {
    /// Starts subscribing for `rooms` on the Redis at `url`, where `store` keeps the history.
    pub fn start(
        url: &str,
        rooms: Arc<dyn Rooms>,
        store: Arc<RedisStore>,
    ) -> redis::RedisResult<Self> {
        let client = Client::open(url)?;
        let node: Arc<str> = Arc::from(ClientId::random().to_string());
        let (watch, changes) = mpsc::unbounded_channel();
        let connection = store.connection();
        let subscriber = Subscriber {
            client,
            rooms: Arc::clone(&rooms),
            store,
            node: Arc::clone(&node),
            epochs: HashMap::new(),
            subscribed: HashSet::new(),
        };
        tokio::spawn(subscriber.run(changes));
        Ok(Self {
            rooms,
            connection,
            node,
            watch,
        })
    }
}

impl Backplane for RedisBackplane {
    fn stored(&self, _room: &str, _frame: &Frame, _sender: &Arc<Peer>) -> Delivery {
        // The append script published it: it is delivered from the subscription, in order.
        Delivery::default()
    }

    fn event(&self, room: &str, frame: &Frame, sender: &Arc<Peer>) -> Delivery {
        let delivery = self.rooms.publish(room, frame, Some(sender));
        let published = Published {
            k: if frame.is_droppable() { "d" } else { "e" }.into(),
            r: room.to_owned(),
            f: sender.id().to_string(),
            t: frame.as_str().to_owned(),
            a: self.node.to_string(),
            ..Published::default()
        };
        let payload = serde_json::to_string(&published).unwrap_or_default();
        let channel = RoomKeys::new(room).channel;
        let mut connection = self.connection.clone();
        tokio::spawn(async move {
            if let Err(err) = connection.publish::<_, _, ()>(channel, payload).await {
                tracing::debug!(%err, "an event was not passed on to the other nodes");
            }
        });
        delivery
    }

    fn watch(&self, room: &str) {
        let _ = self.watch.send(Arc::from(room));
    }
}

/// The task that owns this node's subscription.
struct Subscriber {
    client: Client,
    rooms: Arc<dyn Rooms>,
    store: Arc<RedisStore>,
    node: Arc<str>,
    // The epoch each subscribed room's messages came with.
    epochs: HashMap<Arc<str>, Arc<str>>,
    subscribed: HashSet<Arc<str>>,
}

impl Subscriber {
    async fn run(mut self, mut changes: mpsc::UnboundedReceiver<Arc<str>>) {
        let mut retry = FIRST_RETRY;
        loop {
            match self.serve(&mut changes).await {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(%err, "Redis subscription lost; reconnecting");
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(MAX_RETRY);
                }
            }
            self.subscribed.clear();
            if self.client.get_multiplexed_async_connection().await.is_ok() {
                retry = FIRST_RETRY;
            }
        }
    }

    /// Subscribes to every room with members here, catches up on what was missed while not
    /// subscribed, then delivers until the connection is lost (an error) or the server stops.
    async fn serve(
        &mut self,
        changes: &mut mpsc::UnboundedReceiver<Arc<str>>,
    ) -> redis::RedisResult<()> {
        let (mut sink, mut stream) = self.client.get_async_pubsub().await?.split();
        for room in self.rooms.active() {
            sink.subscribe(RoomKeys::new(&room).channel).await?;
            self.subscribed.insert(room);
        }
        for room in self.subscribed.clone() {
            self.check(&room).await;
        }
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = stream.next() => match message {
                    Some(message) => self.receive(&message).await,
                    None => return Err(redis::RedisError::from(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "the pub/sub connection closed",
                    ))),
                },
                change = changes.recv() => {
                    let Some(room) = change else { return Ok(()) };
                    let active = self.rooms.position(&room).is_some();
                    if active && !self.subscribed.contains(&room) {
                        sink.subscribe(RoomKeys::new(&room).channel).await?;
                        self.subscribed.insert(Arc::clone(&room));
                        // What was stored between the join's read of the head and now.
                        self.check(&room).await;
                    } else if !active && self.subscribed.remove(&room) {
                        sink.unsubscribe(RoomKeys::new(&room).channel).await?;
                        self.epochs.remove(&room);
                    }
                }
                _ = tick.tick() => {
                    for room in self.subscribed.clone() {
                        self.check(&room).await;
                    }
                }
            }
        }
    }

    async fn receive(&mut self, message: &Msg) {
        let Ok(published) = serde_json::from_slice::<Published>(message.get_payload_bytes()) else {
            return;
        };
        let except = published.f.parse::<ClientId>().ok();
        match published.k.as_str() {
            "m" => {
                let room: Arc<str> = Arc::from(published.r.as_str());
                let Some(position) = self.rooms.position(&room) else {
                    return;
                };
                if !self.same_epoch(&room, &published.e) {
                    return;
                }
                if published.s <= position {
                    return;
                }
                if published.s > position + 1 {
                    self.fill(&room, position, published.s - 1).await;
                }
                self.deliver(&room, published.entry());
            }
            kind @ ("e" | "d") if *published.a != *self.node => {
                let mut frame = Frame::from_json(&published.t);
                if kind == "d" {
                    frame = frame.droppable();
                }
                self.rooms.deliver(&published.r, &frame, except);
            }
            _ => {}
        }
    }

    /// Whether `epoch` is the room's; a room whose epoch changed (Redis lost its history) has
    /// its members here reconnect, so that each learns it as a resume that cannot recover.
    fn same_epoch(&mut self, room: &Arc<str>, epoch: &str) -> bool {
        match self.epochs.get(room) {
            Some(known) if **known == *epoch => true,
            Some(_) => {
                tracing::warn!(%room, "the room's history was lost in Redis; its members reconnect");
                for peer in self.rooms.members(room) {
                    peer.outbox().kill_token().cancel();
                }
                self.epochs.insert(Arc::clone(room), Arc::from(epoch));
                false
            }
            None => {
                self.epochs.insert(Arc::clone(room), Arc::from(epoch));
                true
            }
        }
    }

    /// Delivers what the store has after this node's position in `room`.
    async fn check(&mut self, room: &Arc<str>) {
        let Ok(head) = self.store.head(room).await else {
            return;
        };
        let Some(position) = self.rooms.position(room) else {
            return;
        };
        if self.same_epoch(room, &head.epoch) && head.seq > position {
            self.fill(room, position, head.seq).await;
        }
    }

    /// Delivers the stored messages `after < seq <= until`.
    async fn fill(&mut self, room: &Arc<str>, after: u64, until: u64) {
        let limit = (until - after) as usize;
        match self.store.range(room, after, until, limit).await {
            Ok(entries) => {
                for entry in entries {
                    self.deliver(room, entry);
                }
            }
            Err(err) => tracing::debug!(%err, %room, "a gap could not be filled yet"),
        }
    }

    fn deliver(&self, room: &str, entry: Entry) {
        let (seq, except) = (entry.seq, entry.from.parse::<ClientId>().ok());
        let frame = Frame::encode(&ServerMessage::Message(chat_message(room, entry))).with_seq(seq);
        self.rooms.deliver(room, &frame, except);
    }
}
