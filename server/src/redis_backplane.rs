//! Rooms across nodes on Redis pub/sub, with gaps filled from the Redis store.

use crate::{
    ClientId, Frame, Peer, Rooms,
    backplane::{Backplane, Roster, member, roster, user_joined, user_left},
    redis_pipeline::send_in_order,
    redis_store::{Published, RedisStore, RoomKeys, room_key},
    rooms::Delivery,
    session::chat_message,
    store::{Entry, Reading, Store, StoreError},
};
use futures_util::StreamExt;
use redis::{AsyncCommands, Client, Msg, Script, aio::ConnectionManager};
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};
use tether_protocol::{Member, ServerMessage, UserEvent};
use tokio::sync::mpsc::{self, error::TrySendError};

/// How often every room with members here is checked against its stored top, so that a lost
/// last message (a publication dropped with nothing after it) is delivered anyway. The check
/// also keeps the room's head in Redis ([`RedisStore`] keeps it at least four checks long).
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// How often a node says it is alive, and how long the word lasts: a node not heard of for
/// this long is gone, and the first node to notice takes its members out of presence and tells
/// their rooms they left.
const ALIVE_EVERY: Duration = Duration::from_secs(2);
const ALIVE_FOR: Duration = Duration::from_secs(6);

/// Adds a member to a room's presence. KEYS: the room's presence hash (client ->
/// `<node>\t<user>\t<name>`), the node's member set, the room's user counts (user -> how many of
/// its connections are in). ARGV: client, `<node>\t<user>\t<name>`, the member-set entry, user.
/// Returns 1 if the user was not in the room on any node (a client back within the grace, or a
/// second tab of a user, is not new).
const JOIN: &str = r#"
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
if old then return 0 end
if redis.call('HINCRBY', KEYS[3], ARGV[4], 1) == 1 then return 1 end
return 0
"#;

/// Takes a member out of a room's presence if `node` holds it there (not if it came back on
/// another node). KEYS: the presence hash, the node's member set, the room's user counts. ARGV:
/// client, node, the member-set entry. Returns the removed `<node>\t<user>\t<name>` if that
/// was the user's last connection in the room on any node, else nil (another tab stays).
const LEAVE: &str = r#"
redis.call('SREM', KEYS[2], ARGV[3])
local held = redis.call('HGET', KEYS[1], ARGV[1])
if not held or string.sub(held, 1, #ARGV[2] + 1) ~= ARGV[2] .. '\t' then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
local user = string.match(held, '^[^\t]*\t([^\t]*)')
if user then
  if redis.call('HINCRBY', KEYS[3], user, -1) > 0 then return false end
  redis.call('HDEL', KEYS[3], user)
end
return held
"#;

/// Forgets a client's directory entry if it still names `node`. KEYS: the directory. ARGV:
/// client, node.
const FORGET: &str = r#"
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"#;

/// The client directory: client id -> node.
const CLIENTS: &str = "tether:clients";

/// The nodes that have said they are alive at least once and were not found gone.
const NODES: &str = "tether:nodes";

fn alive_key(node: &str) -> String {
    format!("tether:node:{node}")
}

fn members_key(node: &str) -> String {
    format!("tether:node:{node}:members")
}

fn node_channel(node: &str) -> String {
    format!("tether:to:{node}")
}

fn presence_key(room: &str) -> String {
    format!("{}:present", room_key(room))
}

fn users_key(room: &str) -> String {
    format!("{}:users", room_key(room))
}

/// The entry of a client in `room` in its node's member set.
fn member_entry(room: &str, id: ClientId) -> String {
    serde_json::to_string(&(room, id.to_string())).unwrap_or_default()
}

/// At most this many presence and directory changes go to Redis in one pipeline.
const MAX_CHANGES: usize = 512;

/// Events (typing, joins and leaves) waiting to be published beyond which more are dropped.
const EVENT_QUEUE: usize = 64 * 1024;

/// Presence entries read per round trip.
const PRESENCE_PAGE: usize = 500;

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
    shared: Arc<Shared>,
    watch: mpsc::UnboundedSender<Arc<str>>,
    changes: mpsc::UnboundedSender<Change>,
}

/// A change to presence or the client directory, for [`Shared::write_changes`] to write.
enum Change {
    Connected(ClientId),
    Disconnected(ClientId),
    /// A new member here: its `user:joined` goes to the room if it is new to the room on
    /// every node.
    Joined {
        room: Box<str>,
        peer: Arc<Peer>,
    },
    /// A member left here: its `user:left` goes to the room if it is not in the room on
    /// another node now.
    Left {
        room: Box<str>,
        peer: Arc<Peer>,
    },
}

/// What the backplane and its tasks share.
struct Shared {
    rooms: Arc<dyn Rooms>,
    connection: ConnectionManager,
    node: Arc<str>,
    join: Script,
    leave: Script,
    forget: Script,
    // Events for the other nodes (channel, payload), to the task that publishes them in order;
    // at most `EVENT_QUEUE` waiting.
    events: mpsc::Sender<(String, String)>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl RedisBackplane {
    /// Starts subscribing for `rooms` on the Redis at `url`, where `store` keeps the history,
    /// and saying that this node is alive.
    pub fn start(
        url: &str,
        rooms: Arc<dyn Rooms>,
        store: Arc<RedisStore>,
    ) -> redis::RedisResult<Self> {
        let client = Client::open(url)?;
        let (events, publishing) = mpsc::channel(EVENT_QUEUE);
        tokio::spawn(publish_events(store.connection(), publishing));
        let shared = Arc::new(Shared {
            rooms,
            connection: store.connection(),
            node: Arc::from(ClientId::random().to_string()),
            join: Script::new(JOIN),
            leave: Script::new(LEAVE),
            forget: Script::new(FORGET),
            events,
        });
        let (watch, changes) = mpsc::unbounded_channel();
        let subscriber = Subscriber {
            client,
            shared: Arc::clone(&shared),
            store,
            epochs: HashMap::new(),
            subscribed: HashSet::new(),
        };
        tokio::spawn(subscriber.run(changes));
        tokio::spawn(Arc::clone(&shared).keep_alive());
        let (changes, written) = mpsc::unbounded_channel();
        tokio::spawn(Arc::clone(&shared).write_changes(written));
        Ok(Self {
            shared,
            watch,
            changes,
        })
    }

    /// This node's id in the cluster.
    pub fn node(&self) -> &str {
        &self.shared.node
    }
}

impl Shared {
    /// Delivers `frame` to the room's members here but `sender`'s client, and publishes it to
    /// the other nodes.
    fn broadcast(&self, room: &str, frame: &Frame, sender: ClientId) -> Delivery {
        let delivery = self.rooms.deliver(room, frame, Some(sender));
        let published = Published {
            k: if frame.is_droppable() { "d" } else { "e" }.into(),
            r: room.to_owned(),
            f: sender.to_string(),
            t: frame.as_str().to_owned(),
            a: self.node.to_string(),
            ..Published::default()
        };
        self.publish(RoomKeys::new(room).channel, &published);
        delivery
    }

    fn publish(&self, channel: String, published: &Published) {
        let payload = serde_json::to_string(published).unwrap_or_default();
        if let Err(TrySendError::Full(_)) = self.events.try_send((channel, payload)) {
            tracing::debug!("an event not passed on: Redis is behind");
        }
    }

    /// Writes presence and directory changes in the order they were made: whatever is waiting
    /// (up to [`MAX_CHANGES`]) as one pipeline, one pipeline at a time, and tells a room of
    /// the joins and leaves Redis found new to it. One task for all, rather than a task and a
    /// round trip per change: a burst of joins costs one pipeline per batch, not thousands of
    /// futures in flight.
    async fn write_changes(self: Arc<Self>, mut changes: mpsc::UnboundedReceiver<Change>) {
        let mut connection = self.connection.clone();
        let mut batch = Vec::with_capacity(MAX_CHANGES);
        while changes.recv_many(&mut batch, MAX_CHANGES).await > 0 {
            let scripts = [&self.join, &self.leave, &self.forget];
            let answers = send_in_order(&mut connection, &scripts, |pipe| {
                for change in &batch {
                    self.add_change(pipe, change);
                }
            })
            .await;
            for (change, answer) in batch.drain(..).zip(answers) {
                match (change, answer) {
                    // New to the room on every node, or held here and now gone from it.
                    (Change::Joined { room, peer }, Ok(redis::Value::Int(1))) => {
                        self.broadcast(&room, &user_joined(&room, &peer), peer.id());
                    }
                    (Change::Left { room, peer }, Ok(redis::Value::BulkString(_))) => {
                        self.broadcast(&room, &user_left(&room, &peer), peer.id());
                    }
                    (_, Ok(_)) => {}
                    (_, Err(err)) => tracing::debug!(%err, "presence not updated"),
                }
            }
        }
    }

    /// Adds the command that writes `change` to `pipe`.
    fn add_change(&self, pipe: &mut redis::Pipeline, change: &Change) {
        let node = &*self.node;
        match change {
            Change::Connected(id) => {
                pipe.hset(CLIENTS, id.to_string(), node);
            }
            Change::Disconnected(id) => {
                pipe.invoke_script(self.forget.key(CLIENTS).arg(id.to_string()).arg(node));
            }
            Change::Joined { room, peer } => {
                let (id, user) = (peer.id(), peer.user());
                let name = peer.name();
                let name = name.as_deref().unwrap_or_default();
                pipe.invoke_script(
                    self.join
                        .key(presence_key(room))
                        .key(members_key(node))
                        .key(users_key(room))
                        .arg(id.to_string())
                        .arg(format!("{node}\t{user}\t{name}"))
                        .arg(member_entry(room, id))
                        .arg(user),
                );
            }
            Change::Left { room, peer } => {
                let id = peer.id();
                pipe.invoke_script(
                    self.leave
                        .key(presence_key(room))
                        .key(members_key(node))
                        .key(users_key(room))
                        .arg(id.to_string())
                        .arg(node)
                        .arg(member_entry(room, id)),
                );
            }
        }
    }

    /// Says every [`ALIVE_EVERY`] that this node is alive, and takes the members of nodes gone
    /// silent out of presence, telling their rooms.
    async fn keep_alive(self: Arc<Self>) {
        let mut tick = tokio::time::interval(ALIVE_EVERY);
        loop {
            tick.tick().await;
            if let Err(err) = self.look_around().await {
                tracing::debug!(%err, "Redis unreachable for the liveness check");
            }
        }
    }

    async fn look_around(&self) -> redis::RedisResult<()> {
        let mut connection = self.connection.clone();
        let alive_for = ALIVE_FOR.as_millis() as u64;
        let () = connection
            .pset_ex(alive_key(&self.node), 1, alive_for)
            .await?;
        let () = connection.sadd(NODES, &*self.node).await?;
        let nodes: Vec<String> = connection.smembers(NODES).await?;
        for node in nodes.iter().filter(|n| **n != *self.node) {
            let alive: bool = connection.exists(alive_key(node)).await?;
            // Only the node that takes it out of the set clears it.
            if !alive && connection.srem::<_, _, u32>(NODES, node).await? == 1 {
                self.clear(node).await?;
            }
        }
        Ok(())
    }

    /// Takes a gone node's members out of presence and tells their rooms they left.
    async fn clear(&self, node: &str) -> redis::RedisResult<()> {
        let mut connection = self.connection.clone();
        let entries: Vec<String> = connection.smembers(members_key(node)).await?;
        tracing::warn!(
            node,
            members = entries.len(),
            "a node is gone; its members leave"
        );
        for entry in entries {
            let Ok((room, client)) = serde_json::from_str::<(String, String)>(&entry) else {
                continue;
            };
            let held: Option<String> = self
                .leave
                .key(presence_key(&room))
                .key(members_key(node))
                .key(users_key(&room))
                .arg(&client)
                .arg(node)
                .arg(&entry)
                .invoke_async(&mut connection)
                .await?;
            let gone = held.as_deref().and_then(member_of);
            if let (Some(gone), Ok(id)) = (gone, client.parse::<ClientId>()) {
                let event = ServerMessage::UserLeft(UserEvent {
                    user_id: gone.user_id,
                    room_id: room.clone(),
                    name: gone.name,
                });
                self.broadcast(&room, &Frame::encode(&event), id);
            }
        }
        let () = connection.del(members_key(node)).await?;
        Ok(())
    }
}

/// Publishes events for the other nodes in the order they were made: whatever is waiting (up to
/// [`MAX_CHANGES`]) as one pipeline, one pipeline at a time. Events are not stored: one that
/// Redis refuses is lost, as a dropped publication would be, and so is one made while
/// [`EVENT_QUEUE`] wait (a Redis that stalls costs bounded memory).
async fn publish_events(
    mut connection: ConnectionManager,
    mut events: mpsc::Receiver<(String, String)>,
) {
    let mut batch = Vec::with_capacity(MAX_CHANGES);
    while events.recv_many(&mut batch, MAX_CHANGES).await > 0 {
        let mut pipe = redis::pipe();
        for (channel, payload) in batch.drain(..) {
            pipe.publish(channel, payload).ignore();
        }
        if let Err(err) = pipe.query_async::<()>(&mut connection).await {
            tracing::debug!(%err, "events not passed on to the other nodes");
        }
    }
}

/// The user and name in a presence entry (`<node>\t<user>\t<name>`).
fn member_of(held: &str) -> Option<Member> {
    let mut parts = held.splitn(3, '\t');
    let (_node, user, name) = (parts.next()?, parts.next()?, parts.next()?);
    Some(Member {
        user_id: user.to_owned(),
        name: (!name.is_empty()).then(|| name.to_owned()),
    })
}

fn unavailable(err: &redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("Redis: {err}"))
}

impl Backplane for RedisBackplane {
    fn stored(&self, _room: &str, _frame: &Frame, _sender: &Arc<Peer>) -> Delivery {
        // The append script published it: it is delivered from the subscription, in order.
        Delivery::default()
    }

    fn event(&self, room: &str, frame: &Frame, sender: &Arc<Peer>) -> Delivery {
        self.shared.broadcast(room, frame, sender.id())
    }

    fn joined(&self, room: &str, peer: &Arc<Peer>, new_member: bool) -> Delivery {
        let _ = self.watch.send(Arc::from(room));
        if new_member {
            let _ = self.changes.send(Change::Joined {
                room: Box::from(room),
                peer: Arc::clone(peer),
            });
        }
        Delivery::default()
    }

    fn left(&self, room: &str, peer: &Arc<Peer>, remaining: usize) -> Delivery {
        if remaining == 0 {
            let _ = self.watch.send(Arc::from(room));
        }
        let _ = self.changes.send(Change::Left {
            room: Box::from(room),
            peer: Arc::clone(peer),
        });
        Delivery::default()
    }

    fn presence(&self, room: &str, limit: usize) -> Reading<Roster> {
        // This node's members as `Rooms` has them (a join's presence entry is written a moment
        // after its `joined`), then the other nodes' from Redis.
        let local: Vec<Member> = self
            .shared
            .rooms
            .members(room)
            .iter()
            .map(|p| member(p))
            .collect();
        let shared = Arc::clone(&self.shared);
        let key = presence_key(room);
        Box::pin(async move {
            let mut connection = shared.connection.clone();
            let failed = |err: redis::RedisError| unavailable(&err);
            let held: usize = connection.hlen(&key).await.map_err(failed)?;
            let here = local.len();
            let mut seen: HashSet<String> = local.iter().map(|m| m.user_id.clone()).collect();
            let mut all = local;
            // Members of live nodes only: a crashed node's are not listed, even before a node
            // clears them. Read in pages until the answer is full: a room can be large.
            let mut alive: HashMap<String, bool> = HashMap::new();
            let (mut skipped, mut cursor) = (0, 0u64);
            loop {
                let (next, page): (u64, Vec<(String, String)>) = redis::cmd("HSCAN")
                    .arg(&key)
                    .arg(cursor)
                    .arg("COUNT")
                    .arg(PRESENCE_PAGE)
                    .query_async(&mut connection)
                    .await
                    .map_err(failed)?;
                for (_client, value) in page {
                    let node = value.split_once('\t').map_or("", |(node, _)| node);
                    if node == &*shared.node {
                        skipped += 1;
                        continue;
                    }
                    let live = match alive.get(node) {
                        Some(&live) => live,
                        None => {
                            let live = connection.exists(alive_key(node)).await.map_err(failed)?;
                            alive.insert(node.to_owned(), live);
                            live
                        }
                    };
                    match member_of(&value) {
                        Some(member) if live => {
                            seen.insert(member.user_id.clone());
                            all.push(member);
                        }
                        _ => skipped += 1,
                    }
                }
                cursor = next;
                if cursor == 0 || seen.len() >= limit {
                    break;
                }
            }
            // Each user once (several tabs are one member).
            let mut roster = roster(all.into_iter(), limit);
            if cursor != 0 {
                // Not all read: about what Redis holds for other live nodes (a gone node's
                // members count until a node clears them, within seconds; tabs count apart).
                roster.total = roster.total.max(here + held.saturating_sub(skipped));
            }
            Ok(roster)
        })
    }

    fn connected(&self, peer: &Arc<Peer>) {
        let _ = self.changes.send(Change::Connected(peer.id()));
    }

    fn disconnected(&self, peer: &Arc<Peer>) {
        let _ = self.changes.send(Change::Disconnected(peer.id()));
    }

    fn send_to(&self, id: ClientId, frame: &Frame) -> Reading<bool> {
        let shared = Arc::clone(&self.shared);
        let json = frame.as_str().to_owned();
        Box::pin(async move {
            let mut connection = shared.connection.clone();
            let client = id.to_string();
            let node: Option<String> = connection
                .hget(CLIENTS, &client)
                .await
                .map_err(|err| unavailable(&err))?;
            let Some(node) = node else {
                return Ok(false);
            };
            let published = Published {
                k: "p".into(),
                f: client.clone(),
                t: json,
                ..Published::default()
            };
            let payload = serde_json::to_string(&published).unwrap_or_default();
            let heard: u32 = connection
                .publish(node_channel(&node), payload)
                .await
                .map_err(|err| unavailable(&err))?;
            if heard == 0 {
                // Its node is gone: so is the entry.
                let _: redis::RedisResult<u32> = shared
                    .forget
                    .key(CLIENTS)
                    .arg(&client)
                    .arg(&node)
                    .invoke_async(&mut connection)
                    .await;
            }
            Ok(heard > 0)
        })
    }
}

/// The task that owns this node's subscription.
struct Subscriber {
    client: Client,
    shared: Arc<Shared>,
    store: Arc<RedisStore>,
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
        // Private messages for this node's clients.
        sink.subscribe(node_channel(&self.shared.node)).await?;
        for room in self.shared.rooms.active() {
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
                    let active = self.shared.rooms.position(&room).is_some();
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
                let Some(position) = self.shared.rooms.position(&room) else {
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
                self.deliver(&room, published.entry(), published.c.parse().ok());
            }
            "p" => {
                if let Ok(id) = published.f.parse::<ClientId>() {
                    self.shared
                        .rooms
                        .send_to(id, Frame::from_json(&published.t));
                }
            }
            kind @ ("e" | "d") if *published.a != *self.shared.node => {
                let mut frame = Frame::from_json(&published.t);
                if kind == "d" {
                    frame = frame.droppable();
                }
                self.shared.rooms.deliver(&published.r, &frame, except);
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
                for peer in self.shared.rooms.members(room) {
                    peer.outbox().stop(crate::outbox::Stop::HistoryLost);
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
        let Some(position) = self.shared.rooms.position(room) else {
            return;
        };
        if self.same_epoch(room, &head.epoch) && head.seq > position {
            self.fill(room, position, head.seq).await;
        }
    }

    /// Delivers the stored messages `after < seq <= until`.
    async fn fill(&mut self, room: &Arc<str>, after: u64, until: u64) {
        match self.store.range_from(room, after, until).await {
            Ok(entries) => {
                for (entry, sender) in entries {
                    self.deliver(room, entry, sender);
                }
            }
            Err(err) => tracing::debug!(%err, %room, "a gap could not be filled yet"),
        }
    }

    /// Delivers a stored message to the room's members here but its sender's connection.
    fn deliver(&self, room: &str, entry: Entry, except: Option<ClientId>) {
        let seq = entry.seq;
        let frame = Frame::encode(&ServerMessage::Message(chat_message(room, entry))).with_seq(seq);
        self.shared.rooms.deliver(room, &frame, except);
    }
}
