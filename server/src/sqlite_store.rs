//! Room history in a SQLite database: the default store, durable across crashes.

use crate::{
    memory_store::Retention,
    store::{
        APPEND_QUEUE, AppendDone, Appended, Entry, Head, NewMessage, Reading, Store, StoreError,
        blocking, new_epoch, ready,
    },
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, config::DbConfig, params};
use std::{
    collections::HashMap,
    fs::File,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicUsize, Ordering},
        mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError},
    },
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use thiserror::Error;

/// The database file in the data folder.
pub const DATABASE_FILE: &str = "tether.sqlite3";

/// The lock file that keeps two servers off one data folder.
const LOCK_FILE: &str = "tether.lock";

/// The schema version this build writes. Each step in [`MIGRATIONS`] takes a database from the
/// version before it to its own; a database from a newer build is refused.
const SCHEMA_VERSION: i64 = 1;

/// The schema, one step per version: `MIGRATIONS[n]` takes version `n` to `n + 1`.
const MIGRATIONS: [&str; 1] = [
    // 1: rooms with their epoch and latest seq (kept here, not taken from the messages, so that
    // retention never lets a seq be reused), and messages by room and seq.
    "CREATE TABLE rooms (
         id INTEGER PRIMARY KEY,
         name TEXT NOT NULL UNIQUE,
         epoch TEXT NOT NULL,
         top INTEGER NOT NULL DEFAULT 0
     );
     CREATE TABLE messages (
         room INTEGER NOT NULL REFERENCES rooms(id),
         seq INTEGER NOT NULL,
         sender TEXT NOT NULL,
         name TEXT,
         text TEXT NOT NULL,
         at INTEGER NOT NULL,
         cid TEXT,
         PRIMARY KEY (room, seq)
     ) WITHOUT ROWID;
     CREATE INDEX messages_cid ON messages (room, cid) WHERE cid IS NOT NULL;
     CREATE INDEX messages_at ON messages (at);",
];

/// At most this many appends share one transaction (group commit).
const MAX_BATCH: usize = 1024;

/// Reader connections, for history reads and first looks at a room.
const READERS: usize = 4;

/// Rooms the store remembers without asking the database; past it, rooms never written to are
/// forgotten first (their epoch is then made anew), then any (they are read again when needed).
const MAX_CACHED_ROOMS: usize = 65_536;

/// WAL pages past which a commit checkpoints the log into the database (SQLite's default is
/// 1000). Checkpoints wait for the disk inside the writer's commit; fewer, larger ones keep the
/// writer busier with appends (about 120 -> 140 k acked messages/s here), and the log stays
/// bounded at about this many 4 KiB pages (40 MB).
const WAL_AUTOCHECKPOINT: u32 = 10_000;

/// How often the writer drops messages past their age.
const AGE_SWEEP: Duration = Duration::from_secs(60);

/// Why the store could not be opened.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The data folder could not be created or the lock file opened.
    #[error("cannot use the data folder {path}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Another process holds the data folder.
    #[error("the data folder {0} is in use by another tether-server")]
    Locked(PathBuf),
    /// SQLite could not open or read the database.
    #[error("cannot open the database {path}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The database was written by a newer version of the server.
    #[error(
        "the database {path} has schema version {found}; this server knows up to {SCHEMA_VERSION}"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its version.
        found: i64,
    },
}

/// The SQLite [`Store`] (`--store sqlite`, the default): `tether.sqlite3` in the data folder,
/// in WAL mode.
///
/// One writer thread owns the only connection that writes. It takes appends from a bounded
/// queue, as many as are waiting (up to 1024), stores them in one transaction, commits, and only
/// then settles them, in order: a message is acked and broadcast only once it is durable. WAL
/// with `synchronous=NORMAL` makes a commit survive the process being killed (`kill -9`); a power
/// cut may lose the last commits. Reads use a few connections of their own, which WAL lets run
/// beside the writer.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    queue: Option<SyncSender<Job>>,
    writer: Option<thread::JoinHandle<()>>,
    reads: Arc<Reads>,
    // Held for the store's life: the advisory lock on the data folder.
    _lock: nix::fcntl::Flock<File>,
}

/// What reads use, shared with the blocking threads that run them.
#[derive(Debug)]
struct Reads {
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    rooms: Arc<Mutex<HashMap<Arc<str>, RoomState>>>,
}

/// What the store knows of one room without asking the database.
#[derive(Debug, Clone)]
struct RoomState {
    // Its row, once it has one; a room only looked at has an epoch handed out but no row yet.
    id: Option<i64>,
    epoch: Arc<str>,
    // The latest committed seq.
    top: u64,
}

struct Job {
    message: NewMessage,
    done: AppendDone,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("message", &self.message)
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `folder`, migrating an older schema, and starts
    /// the writer.
    pub fn open(folder: &Path, retention: Retention) -> Result<Self, OpenError> {
        std::fs::create_dir_all(folder).map_err(|source| OpenError::Folder {
            path: folder.to_owned(),
            source,
        })?;
        let lock = lock_folder(folder)?;
        let path = folder.join(DATABASE_FILE);
        let database = |source| OpenError::Database {
            path: path.clone(),
            source,
        };
        let mut writer = Connection::open(&path).map_err(database)?;
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA busy_timeout = 5000;",
            )
            .and_then(|()| writer.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT))
            .and_then(|()| stable_plans(&writer))
            .map_err(database)?;
        migrate(&mut writer, &path)?;
        let readers = (0..READERS)
            .map(|_| {
                let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let reader = Connection::open_with_flags(&path, flags)?;
                reader.execute_batch("PRAGMA busy_timeout = 5000;")?;
                stable_plans(&reader)?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<Vec<_>, rusqlite::Error>>()
            .map_err(database)?;
        let rooms = Arc::new(Mutex::new(HashMap::new()));
        let (queue, jobs) = mpsc::sync_channel(APPEND_QUEUE);
        let mut worker = Writer {
            connection: writer,
            rooms: Arc::clone(&rooms),
            retention,
            last_sweep: Instant::now(),
        };
        let writer = thread::Builder::new()
            .name("tether-sqlite-writer".into())
            .spawn(move || worker.run(jobs))
            .map_err(|source| OpenError::Folder {
                path: folder.to_owned(),
                source,
            })?;
        Ok(Self {
            path,
            queue: Some(queue),
            writer: Some(writer),
            reads: Arc::new(Reads {
                readers,
                next_reader: AtomicUsize::new(0),
                rooms,
            }),
            _lock: lock,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Reads {
    /// A reader connection: the first one free, or the next in turn.
    fn reader(&self) -> MutexGuard<'_, Connection> {
        for reader in &self.readers {
            if let Ok(reader) = reader.try_lock() {
                return reader;
            }
        }
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        lock(&self.readers[i])
    }

    /// The room's state, read from the database on first use.
    fn room(&self, room: &str) -> Result<RoomState, StoreError> {
        if let Some(state) = lock(&self.rooms).get(room) {
            return Ok(state.clone());
        }
        let row = self
            .reader()
            .prepare_cached("SELECT id, epoch, top FROM rooms WHERE name = ?1")
            .and_then(|mut select| {
                select
                    .query_row([room], |row| {
                        Ok(RoomState {
                            id: Some(row.get(0)?),
                            epoch: Arc::from(row.get::<_, String>(1)?),
                            top: row.get::<_, i64>(2)? as u64,
                        })
                    })
                    .optional()
            })
            .map_err(unavailable)?;
        // The writer may have looked the room up meanwhile; its entry wins.
        let mut rooms = lock(&self.rooms);
        bound(&mut rooms);
        let state = rooms.entry(Arc::from(room)).or_insert_with(|| {
            row.unwrap_or_else(|| RoomState {
                id: None,
                epoch: new_epoch(),
                top: 0,
            })
        });
        Ok(state.clone())
    }

    fn read(
        &self,
        room: &str,
        sql: &str,
        bound: u64,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let Some(id) = self.room(room)?.id else {
            return Ok(Vec::new());
        };
        let reader = self.reader();
        let mut select = reader.prepare_cached(sql).map_err(unavailable)?;
        // Clamped, not cast: `history` without `before` reads below `u64::MAX`, which `as i64`
        // would turn into -1, a bound below every message.
        let bound = i64::try_from(bound).unwrap_or(i64::MAX);
        let rows = select
            .query_map(params![id, bound, limit as i64], entry)
            .map_err(unavailable)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the queue lets the writer finish what it holds and stop.
        drop(self.queue.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Store for SqliteStore {
    fn append(&self, message: NewMessage, done: AppendDone) {
        let Some(queue) = &self.queue else {
            return done(Err(StoreError::Unavailable("the store is closing".into())));
        };
        match queue.try_send(Job { message, done }) {
            Ok(()) => {}
            Err(TrySendError::Full(job)) => (job.done)(Err(StoreError::Busy)),
            Err(TrySendError::Disconnected(job)) => {
                (job.done)(Err(StoreError::Unavailable("the writer stopped".into())))
            }
        }
    }

    // A room's head is in memory once it has been looked at: a first look is a point read.
    fn head(&self, room: &str) -> Reading<Head> {
        ready(self.reads.room(room).map(|state| Head {
            epoch: state.epoch,
            seq: state.top,
        }))
    }

    fn range(&self, room: &str, after: u64, until: u64, limit: usize) -> Reading<Vec<Entry>> {
        let (reads, room) = (Arc::clone(&self.reads), room.to_owned());
        Box::pin(blocking(move || {
            let mut entries = reads.read(
                &room,
                "SELECT seq, sender, name, text, at FROM messages
                 WHERE room = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                after,
                limit,
            )?;
            entries.retain(|e| e.seq <= until);
            Ok(entries)
        }))
    }

    fn before(&self, room: &str, before: u64, limit: usize) -> Reading<Vec<Entry>> {
        let (reads, room) = (Arc::clone(&self.reads), room.to_owned());
        Box::pin(blocking(move || {
            let mut entries = reads.read(
                &room,
                "SELECT seq, sender, name, text, at FROM messages
                 WHERE room = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
                before,
                limit,
            )?;
            entries.reverse();
            Ok(entries)
        }))
    }
}

fn entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    Ok(Entry {
        seq: row.get::<_, i64>(0)? as u64,
        from: row.get(1)?,
        name: row.get(2)?,
        text: row.get(3)?,
        timestamp: row.get::<_, i64>(4)? as u64,
    })
}

/// Keeps the room cache under [`MAX_CACHED_ROOMS`], so that joining ever more room names cannot
/// grow the server.
fn bound(rooms: &mut HashMap<Arc<str>, RoomState>) {
    if rooms.len() < MAX_CACHED_ROOMS {
        return;
    }
    rooms.retain(|_, state| state.id.is_some());
    if rooms.len() >= MAX_CACHED_ROOMS {
        rooms.clear();
    }
}

fn unavailable(err: rusqlite::Error) -> StoreError {
    unavailable_ref(&err)
}

fn unavailable_ref(err: &rusqlite::Error) -> StoreError {
    StoreError::Unavailable(err.to_string())
}

/// Turns on the query planner stability guarantee: a cached statement keeps its plan. Without
/// it, this build of SQLite (with `SQLITE_ENABLE_STAT4`) notes the bound `room` and `seq` of a
/// range read because of the partial index on `cid`, and every new binding compiles the
/// statement again (13,182 times in one 19,500-client resume storm; 170 -> 143 µs of server CPU
/// per resumed client once off).
fn stable_plans(connection: &Connection) -> rusqlite::Result<()> {
    connection
        .set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map(drop)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The room cache is updated one entry at a time; a connection is usable after a panic.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn lock_folder(folder: &Path) -> Result<nix::fcntl::Flock<File>, OpenError> {
    let path = folder.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| OpenError::Folder {
            path: path.clone(),
            source,
        })?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|_| OpenError::Locked(folder.to_owned()))
}

/// Brings the schema to [`SCHEMA_VERSION`], one step per version, each in a transaction.
fn migrate(connection: &mut Connection, path: &Path) -> Result<(), OpenError> {
    let database = |source| OpenError::Database {
        path: path.to_owned(),
        source,
    };
    let found: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(database)?;
    if found > SCHEMA_VERSION {
        return Err(OpenError::TooNew {
            path: path.to_owned(),
            found,
        });
    }
    for (from, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let transaction = connection.transaction().map_err(database)?;
        transaction.execute_batch(step).map_err(database)?;
        transaction
            .pragma_update(None, "user_version", from as i64 + 1)
            .map_err(database)?;
        transaction.commit().map_err(database)?;
        tracing::info!(version = from + 1, path = %path.display(), "database schema migrated");
    }
    Ok(())
}

/// The writer thread's state.
struct Writer {
    connection: Connection,
    rooms: Arc<Mutex<HashMap<Arc<str>, RoomState>>>,
    retention: Retention,
    last_sweep: Instant,
}

/// One append of a batch, settled after the commit.
struct Settled {
    outcome: Appended,
    done: AppendDone,
}

impl Writer {
    fn run(&mut self, jobs: Receiver<Job>) {
        loop {
            let first = match jobs.recv_timeout(AGE_SWEEP) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    self.sweep();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.commit(batch);
            if self.last_sweep.elapsed() >= AGE_SWEEP {
                self.sweep();
            }
        }
    }

    /// Stores a batch in one transaction; settles every append after the commit, or fails them
    /// all if it did not happen.
    fn commit(&mut self, batch: Vec<Job>) {
        // The rooms' tops as this transaction moves them; the shared cache learns them only once
        // committed.
        let mut tops: HashMap<Arc<str>, RoomState> = HashMap::new();
        let mut settled = Vec::with_capacity(batch.len());
        let result = (|| -> rusqlite::Result<()> {
            let transaction = self.connection.transaction()?;
            let mut jobs = batch.into_iter();
            for job in jobs.by_ref() {
                let outcome = append(
                    &transaction,
                    &self.rooms,
                    &mut tops,
                    &self.retention,
                    job.message,
                );
                match outcome {
                    Ok(outcome) => settled.push(Settled {
                        outcome,
                        done: job.done,
                    }),
                    Err(err) => {
                        // Refused with the rest below; this one has no place in `settled`.
                        (job.done)(Err(unavailable_ref(&err)));
                        for job in jobs {
                            (job.done)(Err(unavailable_ref(&err)));
                        }
                        return Err(err);
                    }
                }
            }
            for state in tops.values() {
                if let Some(id) = state.id {
                    transaction
                        .prepare_cached("UPDATE rooms SET top = ?2 WHERE id = ?1")?
                        .execute(params![id, state.top as i64])?;
                    let keep = self.retention.messages as u64;
                    if state.top > keep && state.top % 64 == 0 {
                        transaction
                            .prepare_cached("DELETE FROM messages WHERE room = ?1 AND seq <= ?2")?
                            .execute(params![id, (state.top - keep) as i64])?;
                    }
                }
            }
            transaction.commit()
        })();
        match result {
            Ok(()) => {
                let mut rooms = lock(&self.rooms);
                bound(&mut rooms);
                for (room, state) in tops {
                    rooms.insert(room, state);
                }
                drop(rooms);
                for append in settled {
                    (append.done)(Ok(append.outcome));
                }
            }
            Err(err) => {
                tracing::error!(%err, "storing messages failed; they were refused");
                let error = StoreError::Unavailable(err.to_string());
                for append in settled {
                    (append.done)(Err(error.clone()));
                }
            }
        }
    }

    /// Drops messages past their age.
    fn sweep(&mut self) {
        self.last_sweep = Instant::now();
        let cutoff = now_millis().saturating_sub(self.retention.age.as_millis() as u64);
        if let Err(err) = self
            .connection
            .execute("DELETE FROM messages WHERE at < ?1", [cutoff as i64])
        {
            tracing::warn!(%err, "dropping old messages failed");
        }
    }
}

/// Appends one message inside the batch's transaction.
fn append(
    transaction: &rusqlite::Transaction<'_>,
    rooms: &Mutex<HashMap<Arc<str>, RoomState>>,
    tops: &mut HashMap<Arc<str>, RoomState>,
    retention: &Retention,
    message: NewMessage,
) -> rusqlite::Result<Appended> {
    let room = Arc::clone(&message.room);
    if !tops.contains_key(&room) {
        let known = lock(rooms).get(&room).cloned();
        let state = match known {
            Some(state @ RoomState { id: Some(_), .. }) => state,
            // Looked at (an epoch handed out) or never seen: find or create its row.
            known => {
                let found = transaction
                    .prepare_cached("SELECT id, epoch, top FROM rooms WHERE name = ?1")?
                    .query_row([&*room], |row| {
                        Ok(RoomState {
                            id: Some(row.get(0)?),
                            epoch: Arc::from(row.get::<_, String>(1)?),
                            top: row.get::<_, i64>(2)? as u64,
                        })
                    })
                    .optional()?;
                match found {
                    Some(state) => state,
                    None => {
                        let epoch = known.map_or_else(new_epoch, |k| k.epoch);
                        transaction
                            .prepare_cached("INSERT INTO rooms (name, epoch) VALUES (?1, ?2)")?
                            .execute(params![&*room, &*epoch])?;
                        RoomState {
                            id: Some(transaction.last_insert_rowid()),
                            epoch,
                            top: 0,
                        }
                    }
                }
            }
        };
        tops.insert(Arc::clone(&room), state);
    }
    let state = tops.get_mut(&room).expect("inserted above");
    let id = state.id.expect("a room being written has a row");
    if let Some(cid) = &message.cid {
        let window = retention.dedupe_window.as_millis() as u64;
        let since = message.timestamp.saturating_sub(window);
        let original: Option<i64> = transaction
            .prepare_cached(
                "SELECT seq FROM messages WHERE room = ?1 AND cid = ?2 AND at >= ?3
                 ORDER BY seq DESC LIMIT 1",
            )?
            .query_row(params![id, cid, since as i64], |row| row.get(0))
            .optional()?;
        if let Some(seq) = original {
            return Ok(Appended::Duplicate {
                seq: seq as u64,
                epoch: Arc::clone(&state.epoch),
            });
        }
    }
    state.top += 1;
    transaction
        .prepare_cached(
            "INSERT INTO messages (room, seq, sender, name, text, at, cid)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            id,
            state.top as i64,
            message.from,
            message.name,
            message.text,
            message.timestamp as i64,
            message.cid,
        ])?;
    Ok(Appended::Stored {
        entry: Entry {
            seq: state.top,
            from: message.from,
            name: message.name,
            text: message.text,
            timestamp: message.timestamp,
        },
        epoch: Arc::clone(&state.epoch),
    })
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
