//! Room history in Redis, shared by every node on the same Redis (`--redis URL`).

use crate::{
    ClientId,
    memory_store::Retention,
    redis_backplane::CHECK_EVERY,
    redis_pipeline::send_in_order,
    store::{
        APPEND_QUEUE, AppendDone, Appended, Entry, Head, NewMessage, Reading, Store, StoreError,
        new_epoch,
    },
};
use redis::{AsyncCommands, Client, Script, ScriptInvocation, aio::ConnectionManager};
use serde::{Deserialize, Serialize};
use std::{sync::Arc, time::Duration};
use thiserror::Error;
use tokio::sync::mpsc::{self, error::TrySendError};

/// Appends one message in one atomic step: checks the `cid`, numbers the message with the
/// room's next `seq`, appends it to the room's stream, trims the stream by count and age, and
/// publishes it on the room's channel, so that what any node delivers was stored first.
///
/// Trimming is in steps, as the SQLite store's: by count with `MAXLEN ~`, whole stream nodes at
/// a time (Redis keeps at least the messages asked for, and at most a node's worth, 100, more),
/// and by age on every 64th message, up to 64 of the oldest; a room left alone for the age
/// expires whole. Exact trimming cost Redis more than the rest of the append (6 of 30 µs for
/// `MAXLEN`, 4 for reading the oldest entry, on every message).
///
/// KEYS: the room's meta hash (epoch, top), its stream, its cid key (the meta key again when the
/// message has none). ARGV: a fresh epoch (used only if the room has none: Redis lost it or
/// never had it), from, name ('' for none), text, at (ms), cid ('' for none), messages kept, age
/// kept (ms), dedupe window (s), the room's channel, the room's name, the sender's client id,
/// how long the room's head is kept (ms, [`head_kept`]). Returns {stored (1) or duplicate (0),
/// seq, epoch}.
const APPEND: &str = r#"
local meta, log, cidkey = KEYS[1], KEYS[2], KEYS[3]
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  -- A new epoch: what is left of the room's messages went with its numbering.
  epoch = ARGV[1]
  redis.call('HSET', meta, 'epoch', epoch, 'top', 0)
  redis.call('DEL', log)
end
if ARGV[6] ~= '' then
  local seen = redis.call('GET', cidkey)
  if seen then return {0, tonumber(seen), epoch} end
end
local seq = redis.call('HINCRBY', meta, 'top', 1)
local at = tonumber(ARGV[5])
redis.call('XADD', log, 'MAXLEN', '~', tonumber(ARGV[7]), seq .. '-0',
  'f', ARGV[2], 'n', ARGV[3], 't', ARGV[4], 'a', ARGV[5], 'c', ARGV[12])
if seq % 64 == 0 then
  local oldest = at - tonumber(ARGV[8])
  for _ = 1, 64 do
    local first = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)[1]
    if not first or tonumber(first[2][8]) >= oldest then break end
    redis.call('XDEL', log, first[1])
  end
end
-- A room nobody writes to for the age kept has nothing left to keep: it expires whole.
redis.call('PEXPIRE', log, tonumber(ARGV[8]))
redis.call('PEXPIRE', meta, tonumber(ARGV[13]))
if ARGV[6] ~= '' then
  redis.call('SET', cidkey, seq, 'EX', tonumber(ARGV[9]))
end
redis.call('PUBLISH', ARGV[10], cjson.encode({
  k = 'm', r = ARGV[11], s = seq, e = epoch, f = ARGV[2], n = ARGV[3], t = ARGV[4], a = ARGV[5],
  c = ARGV[12]
}))
return {1, seq, epoch}
"#;

/// The room's epoch and top `seq` (KEYS[1], its meta hash). A room that has none (never had
/// one, or Redis lost it) gets a new epoch, ARGV[1], and what is left of its stream (KEYS[2])
/// goes with the numbering it had, as in the append script: numbered from 1 again, new
/// messages would otherwise come behind the old ones' ids, which Redis refuses.
///
/// A room's epoch and top are kept ([`head_kept`], ARGV[2], ms) for at least half that after
/// they were last read, and all of it after the room's last message: a room only ever joined (by
/// any name a client chooses) does not stay in Redis for good, and one whose members are still
/// here (each node reads the head of its rooms every [`CHECK_EVERY`]) keeps its numbering, as on
/// one server. The expiry is moved at most once per half: a read that writes every time would
/// grow the append-only file by every node's check of every room every second.
const HEAD: &str = r#"
local meta, log, kept = KEYS[1], KEYS[2], tonumber(ARGV[2])
local epoch = redis.call('HGET', meta, 'epoch')
local top = 0
if epoch then
  top = tonumber(redis.call('HGET', meta, 'top'))
else
  epoch = ARGV[1]
  redis.call('HSET', meta, 'epoch', epoch, 'top', 0)
  redis.call('DEL', log)
end
if redis.call('PTTL', meta) < kept / 2 then
  redis.call('PEXPIRE', meta, kept)
end
return {epoch, top}
"#;

/// How long a room's epoch and top are kept after its last message (and at least half that
/// after its last read), in ms: the age its messages are kept, and no less than four of the
/// backplane's checks, so that a room with members keeps its head between two checks whatever
/// `--history-age` says. Never less than the messages are kept: a head gone before its stream
/// would number new messages behind the old ones.
fn head_kept(retention: Retention) -> u64 {
    retention.age.max(4 * CHECK_EVERY).as_millis() as u64
}

/// How long one Redis command may take before the store answers `unavailable`.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the Redis store could not be opened.
#[derive(Debug, Error)]
#[error("cannot use Redis at {url}: {source}")]
pub struct OpenError {
    url: String,
    source: redis::RedisError,
}

/// The keys and channel of one room. Every key of a room has the room's name as its hash tag,
/// so that a Redis Cluster keeps them on one shard, as the append script needs.
#[derive(Debug, Clone)]
pub struct RoomKeys {
    /// Epoch and top `seq`.
    pub meta: String,
    /// The messages, a stream whose ids are `<seq>-0`.
    pub log: String,
    /// Where messages and events of the room are published.
    pub channel: String,
}

impl RoomKeys {
    /// The keys of `room`.
    pub fn new(room: &str) -> Self {
        let channel = room_key(room);
        Self {
            meta: format!("{channel}:meta"),
            log: format!("{channel}:log"),
            channel,
        }
    }

    fn cid(&self, cid: &str) -> String {
        format!("{}:cid:{cid}", self.channel)
    }
}

/// `tether:{room}`: the channel of `room`, and what each of its keys starts with. A room's name
/// is the client's to choose, so `%` and `}` in it are written `%25` and `%7D`: the first `}`
/// then ends the name, whatever it holds, and no room's key (nor a `cid` key, whose `cid` the
/// client chooses too) can be another room's. The braces make the name Redis Cluster's hash tag.
pub fn room_key(room: &str) -> String {
    let mut key = String::with_capacity(room.len() + 9);
    key.push_str("tether:{");
    for c in room.chars() {
        match c {
            '%' => key.push_str("%25"),
            '}' => key.push_str("%7D"),
            c => key.push(c),
        }
    }
    key.push('}');
    key
}

/// What is published on a room's channel: a stored message (`k: "m"`, from the append script)
/// or an event a node passes on (`k: "e"` or `"d"`, the frame's JSON as sent to clients).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// `m` (a message), `e` (an event) or `d` (an event a slow client may miss: typing).
    pub k: String,
    /// The room.
    pub r: String,
    /// A message's seq.
    #[serde(default)]
    pub s: u64,
    /// A message's epoch.
    #[serde(default)]
    pub e: String,
    /// A message's sender, or an event's (the client it is not sent to).
    #[serde(default)]
    pub f: String,
    /// A message's sender name ('' for none).
    #[serde(default)]
    pub n: String,
    /// A message's text, or an event's frame.
    #[serde(default)]
    pub t: String,
    /// A message's time, ms since the Unix epoch, as text; an event's node.
    #[serde(default)]
    pub a: String,
    /// A message's sender's client id (its connection, not to be sent it back).
    #[serde(default)]
    pub c: String,
}

impl Published {
    /// A stored message as an [`Entry`].
    pub fn entry(&self) -> Entry {
        Entry {
            seq: self.s,
            from: self.f.clone(),
            name: (!self.n.is_empty()).then(|| self.n.clone()),
            text: self.t.clone(),
            timestamp: self.a.parse().unwrap_or(0),
        }
    }
}

/// The Redis [`Store`] (`--redis URL`): each room's history in a stream, numbered and deduped
/// by one Lua script per append, which also publishes the message to the nodes.
///
/// Each append is one script call, sent in the order the appends were made, so one client's
/// messages are numbered in the order it sent them; `done` (which only acks: the nodes deliver
/// the message from its publication) may be called out of `seq` order across appends. A failed or
/// timed-out command is `unavailable`: nothing is acked that Redis did not confirm; beyond
/// [`APPEND_QUEUE`] appends waiting (a Redis that stalls), an append is refused as busy. The
/// connection manager reconnects with backoff.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    // Appends, in the order they were made, to the task that sends them.
    appends: mpsc::Sender<(NewMessage, AppendDone)>,
    head: Arc<Script>,
    retention: Retention,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to Redis at `url` (redis://host:port/db). Fails if Redis cannot be reached now.
    pub async fn open(url: &str, retention: Retention) -> Result<Self, OpenError> {
        let failed = |source| OpenError {
            url: url.to_owned(),
            source,
        };
        let client = Client::open(url).map_err(failed)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(failed)?;
        let (appends, jobs) = mpsc::channel(APPEND_QUEUE);
        tokio::spawn(send_appends(jobs, connection.clone(), retention));
        Ok(Self {
            connection,
            appends,
            head: Arc::new(Script::new(HEAD)),
            retention,
        })
    }

    /// The value at `key`, set to `candidate` first if it has none: a secret all nodes share.
    pub async fn shared_secret(
        &self,
        key: &str,
        candidate: Vec<u8>,
    ) -> redis::RedisResult<Vec<u8>> {
        let mut connection = self.connection.clone();
        let _: bool = connection.set_nx(key, candidate).await?;
        connection.get(key).await
    }

    /// The stored messages `after < seq <= until`, each with its sender's client id: what a
    /// node delivers when it fills a gap (not back to the sender).
    pub async fn range_from(
        &self,
        room: &str,
        after: u64,
        until: u64,
    ) -> Result<Vec<(Entry, Option<ClientId>)>, StoreError> {
        let limit = usize::try_from(until.saturating_sub(after)).unwrap_or(usize::MAX);
        read_range(self.connection.clone(), room, after, until, limit).await
    }

    /// A connection for other commands (the backplane's publishes).
    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }
}

/// At most this many appends go to Redis in one pipeline.
const MAX_BATCH: usize = 512;

/// Sends the appends to Redis in the order they were made: whatever is waiting (up to
/// [`MAX_BATCH`]) as one pipeline of script calls, one pipeline at a time, and settles each
/// with its own answer. Redis runs a connection's commands in order, so two messages one
/// client sends to a room get their `seq`s in that order (separate commands in flight on the
/// multiplexed connection can overtake each other while its queue is full; and so can a call
/// that found its script gone and was retried by itself, which
/// [`send_in_order`](crate::redis_pipeline::send_in_order) prevents).
async fn send_appends(
    mut jobs: mpsc::Receiver<(NewMessage, AppendDone)>,
    mut connection: ConnectionManager,
    retention: Retention,
) {
    let script = Script::new(APPEND);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let answers = send_in_order(&mut connection, &[&script], |pipe| {
            for (message, _) in &batch {
                pipe.invoke_script(&append_call(&script, message, retention));
            }
        })
        .await;
        for ((message, done), answer) in batch.drain(..).zip(answers) {
            done(settled(message, answer));
        }
    }
}

/// The script call that appends `message`.
fn append_call<'s>(
    script: &'s Script,
    message: &NewMessage,
    retention: Retention,
) -> ScriptInvocation<'s> {
    let room = &*message.room;
    let keys = RoomKeys::new(room);
    let cid_key = match &message.cid {
        Some(cid) => keys.cid(cid),
        None => keys.meta.clone(),
    };
    let mut call = script.key(&keys.meta);
    call.key(&keys.log)
        .key(cid_key)
        .arg(&*new_epoch())
        .arg(&message.from)
        .arg(message.name.as_deref().unwrap_or(""))
        .arg(&message.text)
        .arg(message.timestamp)
        .arg(message.cid.as_deref().unwrap_or(""))
        .arg(retention.messages)
        .arg(retention.age.as_millis() as u64)
        .arg(retention.dedupe_window.as_secs().max(1))
        .arg(&keys.channel)
        .arg(room)
        .arg(message.sender.to_string())
        .arg(head_kept(retention));
    call
}

fn settled(
    message: NewMessage,
    answer: redis::RedisResult<redis::Value>,
) -> Result<Appended, StoreError> {
    let reply = answer.and_then(|answer| {
        redis::from_redis_value::<(i64, u64, String)>(answer).map_err(redis::RedisError::from)
    });
    match reply {
        Ok((1, seq, epoch)) => Ok(Appended::Stored {
            entry: Entry {
                seq,
                from: message.from,
                name: message.name,
                text: message.text,
                timestamp: message.timestamp,
            },
            epoch: Arc::from(epoch),
        }),
        Ok((_, seq, epoch)) => Ok(Appended::Duplicate {
            seq,
            epoch: Arc::from(epoch),
        }),
        Err(err) => Err(unavailable(&err)),
    }
}

/// The stored messages `after < seq <= until` of `room`, at most `limit`, each with its
/// sender's client id.
fn read_range(
    mut connection: ConnectionManager,
    room: &str,
    after: u64,
    until: u64,
    limit: usize,
) -> impl std::future::Future<Output = Result<Vec<(Entry, Option<ClientId>)>, StoreError>> + use<> {
    let log = RoomKeys::new(room).log;
    async move {
        if until <= after || limit == 0 {
            return Ok(Vec::new());
        }
        let reply: Vec<(String, Vec<(String, String)>)> = connection
            .xrange_count(log, format!("{}-0", after + 1), format!("{until}-0"), limit)
            .await
            .map_err(|err| unavailable(&err))?;
        Ok(entries_from(reply))
    }
}

fn unavailable(err: &redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("Redis: {err}"))
}

fn entries(reply: Vec<(String, Vec<(String, String)>)>) -> Vec<Entry> {
    entries_from(reply)
        .into_iter()
        .map(|(entry, _)| entry)
        .collect()
}

/// Stream entries with the client id of each one's sender.
fn entries_from(reply: Vec<(String, Vec<(String, String)>)>) -> Vec<(Entry, Option<ClientId>)> {
    reply
        .into_iter()
        .filter_map(|(id, fields)| {
            let seq = id.split('-').next()?.parse().ok()?;
            let mut entry = Entry {
                seq,
                from: String::new(),
                name: None,
                text: String::new(),
                timestamp: 0,
            };
            let mut sender = None;
            for (field, value) in fields {
                match field.as_str() {
                    "f" => entry.from = value,
                    "n" if !value.is_empty() => entry.name = Some(value),
                    "t" => entry.text = value,
                    "a" => entry.timestamp = value.parse().unwrap_or(0),
                    "c" => sender = value.parse().ok(),
                    _ => {}
                }
            }
            Some((entry, sender))
        })
        .collect()
}

impl Store for RedisStore {
    fn append(&self, message: NewMessage, done: AppendDone) {
        match self.appends.try_send((message, done)) {
            Ok(()) => {}
            Err(TrySendError::Full((_, done))) => done(Err(StoreError::Busy)),
            // Only while the runtime shuts down.
            Err(TrySendError::Closed((_, done))) => {
                done(Err(StoreError::Unavailable("the store is closing".into())))
            }
        }
    }

    fn head(&self, room: &str) -> Reading<Head> {
        let mut connection = self.connection.clone();
        let script = Arc::clone(&self.head);
        let keys = RoomKeys::new(room);
        let kept = head_kept(self.retention);
        Box::pin(async move {
            let (epoch, seq): (String, u64) = script
                .key(keys.meta)
                .key(keys.log)
                .arg(&*new_epoch())
                .arg(kept)
                .invoke_async(&mut connection)
                .await
                .map_err(|err| unavailable(&err))?;
            Ok(Head {
                epoch: Arc::from(epoch),
                seq,
            })
        })
    }

    fn range(&self, room: &str, after: u64, until: u64, limit: usize) -> Reading<Vec<Entry>> {
        let read = read_range(self.connection.clone(), room, after, until, limit);
        Box::pin(async move {
            let entries = read.await?;
            Ok(entries.into_iter().map(|(entry, _)| entry).collect())
        })
    }

    fn before(&self, room: &str, before: u64, limit: usize) -> Reading<Vec<Entry>> {
        let mut connection = self.connection.clone();
        let log = RoomKeys::new(room).log;
        Box::pin(async move {
            if before <= 1 || limit == 0 {
                return Ok(Vec::new());
            }
            let end = before.saturating_sub(1).min(i64::MAX as u64);
            let reply: Vec<(String, Vec<(String, String)>)> = connection
                .xrevrange_count(log, format!("{end}-0"), "-", limit)
                .await
                .map_err(|err| unavailable(&err))?;
            let mut entries = entries(reply);
            entries.reverse();
            Ok(entries)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rooms_name_ends_at_its_keys_first_closing_brace() {
        assert_eq!(room_key("general"), "tether:{general}");
        assert_eq!(room_key("x}:cid:q"), "tether:{x%7D:cid:q}");
        // An escape in the name is not the brace it stands for.
        assert_ne!(room_key("a%7D"), room_key("a}"));
        assert_eq!(room_key("a%7D"), "tether:{a%257D}");
        let keys = RoomKeys::new("x}:cid:q");
        assert_ne!(keys.meta, RoomKeys::new("x").cid("q}:meta"));
        assert_eq!(keys.meta, "tether:{x%7D:cid:q}:meta");
    }
}
