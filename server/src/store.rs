//! The history seam: where room messages are kept, numbered and read back.

use std::{fmt, future::Future, pin::Pin, sync::Arc};
use thiserror::Error;

/// A room message as the history keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its position in the room's history: 1, 2, 3… with no gaps.
    pub seq: u64,
    /// The sender as others see it (its user id with token auth, else its client id).
    pub from: String,
    /// The sender's display name when it was sent.
    pub name: Option<String>,
    /// The text.
    pub text: String,
    /// When the server received it, in milliseconds since the Unix epoch.
    pub timestamp: u64,
}

/// A message to append to a room's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The room.
    pub room: Arc<str>,
    /// The sender as others see it: its user id with token auth, else its client id.
    pub from: String,
    /// The sender's connection's client id (for a backplane that must not send the message
    /// back to it); not kept in the history.
    pub sender: crate::ClientId,
    /// The sender's display name.
    pub name: Option<String>,
    /// The text.
    pub text: String,
    /// When the server received it, in milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// The client's id for this message: a second append with the same `cid` in the same room
    /// within the dedupe window is not stored again.
    pub cid: Option<String>,
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Stored as the room's next entry.
    Stored {
        /// The entry, with its `seq`.
        entry: Entry,
        /// The room's epoch.
        epoch: Arc<str>,
    },
    /// A message with the same `cid` was already stored: nothing was stored now.
    Duplicate {
        /// The original's `seq`.
        seq: u64,
        /// The room's epoch.
        epoch: Arc<str>,
    },
}

/// Where a room's history stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The room's epoch: it changes only when the store has lost the room's history.
    pub epoch: Arc<str>,
    /// The `seq` of the room's latest stored message; 0 before the first.
    pub seq: u64,
}

/// Why the store could not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store failed or cannot be reached (a full disk, a failed write, a lost connection);
    /// nothing was stored. It may work again later.
    #[error("the message store is unavailable: {0}")]
    Unavailable(String),
    /// The store is too busy to take more right now.
    #[error("the message store is busy")]
    Busy,
}

/// Appends a store holds waiting for its writer (the SQLite writer thread, the Redis pipeline)
/// beyond which it refuses them as [`StoreError::Busy`] rather than queue them: a stalled
/// writer costs bounded memory.
pub const APPEND_QUEUE: usize = 64 * 1024;

/// Called once an append is settled: durable and numbered, a duplicate, or failed.
pub type AppendDone = Box<dyn FnOnce(Result<Appended, StoreError>) + Send>;

/// A read from the store: answered at once by a store that can (its future is ready when first
/// polled), or after a round trip or a blocking read.
pub type Reading<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'static>>;

/// A [`Reading`] answered at once.
pub fn ready<T: Send + 'static>(result: Result<T, StoreError>) -> Reading<T> {
    Box::pin(std::future::ready(result))
}

/// Where room history lives: the one interface the server uses to number, keep and read back
/// room messages. [`MemoryStore`](crate::MemoryStore) keeps it in this process (a new epoch on
/// every start); [`SqliteStore`](crate::SqliteStore) in a SQLite database, durably;
/// [`RedisStore`](crate::redis_store::RedisStore) in Redis, shared by the nodes of a cluster.
///
/// The contract every implementation keeps:
/// - `seq` counts up from 1 per room with no gaps, and `done` is called after the entry is
///   durable: whatever `done` publishes is never ahead of the store.
/// - Where the room's messages are delivered from `done` (one node: SQLite and memory, with the
///   [`LocalBackplane`](crate::backplane::LocalBackplane)), `done` is called for a room's
///   appends in `seq` order. [`RedisStore`](crate::redis_store::RedisStore) publishes each
///   message in the same step that stores it and the nodes deliver from that, so its `done`
///   only acks and may settle concurrent appends in any order.
/// - `head`, `range` and `before` see every entry whose `done` was called.
/// - A failed append stores nothing and takes no `seq`.
///
/// Reads are futures, polled on the async runtime: a store that reads from disk does so on
/// blocking threads ([`blocking`]), one that asks a server awaits it. `head` should be ready at
/// once where the store can answer from memory: a join then needs no wait.
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Appends `message` to its room's history and calls `done` with the outcome, on whatever
    /// thread settles it.
    fn append(&self, message: NewMessage, done: AppendDone);

    /// The room's epoch and latest `seq`.
    fn head(&self, room: &str) -> Reading<Head>;

    /// The entries with `after < seq <= until`, oldest first, at most `limit`. Entries that
    /// retention removed are missing: the first may come after `after + 1`.
    fn range(&self, room: &str, after: u64, until: u64, limit: usize) -> Reading<Vec<Entry>>;

    /// The latest `limit` entries with `seq < before`, oldest first.
    fn before(&self, room: &str, before: u64, limit: usize) -> Reading<Vec<Entry>>;
}

/// A fresh random epoch: 16 hex digits.
pub fn new_epoch() -> Arc<str> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    Arc::from(&id[..16])
}

/// Store reads running at once on blocking threads, server-wide. More wait their turn
/// (asynchronously), so that a burst of resumes or `history` requests never takes more blocking
/// threads than this.
static READS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(16);

/// Runs a blocking store read on tokio's blocking threads, at most 16 at a time server-wide.
pub async fn blocking<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let _permit = READS
        .acquire()
        .await
        .map_err(|err| StoreError::Unavailable(err.to_string()))?;
    tokio::task::spawn_blocking(read)
        .await
        .unwrap_or_else(|err| Err(StoreError::Unavailable(err.to_string())))
}
