//! Room history kept in this process: gone with it.

use crate::store::{
    AppendDone, Appended, Entry, Head, NewMessage, Reading, Store, new_epoch, ready,
};
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

/// How much history a store keeps, and for how long it remembers a `cid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// The most messages kept per room; older ones are dropped.
    pub messages: usize,
    /// How old a kept message may get.
    pub age: Duration,
    /// How long a `cid` is remembered.
    pub dedupe_window: Duration,
}

/// How many rooms the store holds before it forgets those without messages.
const MAX_EMPTY_ROOMS: usize = 65_536;

/// The in-memory [`Store`] (`--store memory`): every room's latest messages in a ring, with a
/// new epoch for each room on every start, since nothing survives a restart.
///
/// An append is settled at once, under the room's lock, so `done` runs on the caller's thread
/// and two appends to one room settle in `seq` order.
#[derive(Debug)]
pub struct MemoryStore {
    retention: Retention,
    // A std mutex per room, behind a map lock held only to find or create the room.
    rooms: Mutex<HashMap<Arc<str>, Arc<Mutex<Log>>>>,
}

#[derive(Debug)]
struct Log {
    epoch: Arc<str>,
    top: u64,
    entries: VecDeque<Entry>,
    // cid → (seq, received at), for the dedupe window.
    cids: HashMap<String, (u64, u64)>,
}

impl MemoryStore {
    /// An empty store keeping what `retention` says.
    pub fn new(retention: Retention) -> Self {
        Self {
            retention,
            rooms: Mutex::new(HashMap::new()),
        }
    }

    fn log(&self, room: &str) -> Arc<Mutex<Log>> {
        let mut rooms = lock(&self.rooms);
        if let Some(log) = rooms.get(room) {
            return Arc::clone(log);
        }
        // Rooms looked at but never written to are forgotten past a bound, so that joining ever
        // more room names cannot grow the server; rooms with history stay (retention bounds them).
        if rooms.len() >= MAX_EMPTY_ROOMS {
            rooms.retain(|_, log| lock(log).top > 0);
        }
        let log = Arc::new(Mutex::new(Log {
            epoch: new_epoch(),
            top: 0,
            entries: VecDeque::new(),
            cids: HashMap::new(),
        }));
        rooms.insert(Arc::from(room), Arc::clone(&log));
        log
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update below leaves the log consistent before it can panic.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Log {
    fn trim(&mut self, retention: &Retention, now: u64) {
        let too_old = now.saturating_sub(retention.age.as_millis() as u64);
        while self
            .entries
            .front()
            .is_some_and(|e| self.entries.len() > retention.messages || e.timestamp < too_old)
        {
            self.entries.pop_front();
        }
        let forget = now.saturating_sub(retention.dedupe_window.as_millis() as u64);
        if self.cids.len() > 1024 {
            self.cids.retain(|_, (_, at)| *at >= forget);
        }
    }
}

impl Store for MemoryStore {
    fn append(&self, message: NewMessage, done: AppendDone) {
        let log = self.log(&message.room);
        let mut log = lock(&log);
        let window = self.retention.dedupe_window.as_millis() as u64;
        if let Some(cid) = &message.cid
            && let Some(&(seq, at)) = log.cids.get(cid)
            && message.timestamp.saturating_sub(at) <= window
        {
            let epoch = Arc::clone(&log.epoch);
            done(Ok(Appended::Duplicate { seq, epoch }));
            return;
        }
        log.top += 1;
        let entry = Entry {
            seq: log.top,
            from: message.from,
            name: message.name,
            text: message.text,
            timestamp: message.timestamp,
        };
        if let Some(cid) = message.cid {
            log.cids.insert(cid, (entry.seq, entry.timestamp));
        }
        log.entries.push_back(entry.clone());
        log.trim(&self.retention, message.timestamp);
        let epoch = Arc::clone(&log.epoch);
        // Still under the room's lock: the next append to this room settles after this one.
        done(Ok(Appended::Stored { entry, epoch }));
    }

    // Reads are answered at once, under the room's lock: they copy at most a page or a replay.
    fn head(&self, room: &str) -> Reading<Head> {
        let log = self.log(room);
        let log = lock(&log);
        ready(Ok(Head {
            epoch: Arc::clone(&log.epoch),
            seq: log.top,
        }))
    }

    fn range(&self, room: &str, after: u64, until: u64, limit: usize) -> Reading<Vec<Entry>> {
        let log = self.log(room);
        let log = lock(&log);
        ready(Ok(log
            .entries
            .iter()
            .filter(|e| e.seq > after && e.seq <= until)
            .take(limit)
            .cloned()
            .collect()))
    }

    fn before(&self, room: &str, before: u64, limit: usize) -> Reading<Vec<Entry>> {
        let log = self.log(room);
        let log = lock(&log);
        let older: Vec<&Entry> = log.entries.iter().filter(|e| e.seq < before).collect();
        let skip = older.len().saturating_sub(limit);
        ready(Ok(older[skip..].iter().map(|e| (*e).clone()).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
    use std::sync::mpsc;

    pub(crate) fn retention() -> Retention {
        Retention {
            messages: 5,
            age: Duration::from_secs(3600),
            dedupe_window: Duration::from_secs(600),
        }
    }

    fn append(store: &MemoryStore, room: &str, text: &str, cid: Option<&str>, at: u64) -> Appended {
        let (tx, rx) = mpsc::channel();
        store.append(
            NewMessage {
                room: Arc::from(room),
                from: "c1".into(),
                sender: crate::ClientId::random(),
                name: None,
                text: text.into(),
                timestamp: at,
                cid: cid.map(Into::into),
            },
            Box::new(move |result| tx.send(result).expect("receiver alive")),
        );
        rx.recv().expect("settled").expect("stored")
    }

    fn seq(appended: &Appended) -> u64 {
        match appended {
            Appended::Stored { entry, .. } => entry.seq,
            Appended::Duplicate { seq, .. } => *seq,
        }
    }

    #[test]
    fn seqs_count_up_per_room_and_reads_see_them() {
        let store = MemoryStore::new(retention());
        for i in 1..=3 {
            assert_eq!(seq(&append(&store, "a", "x", None, 1)), i);
        }
        assert_eq!(seq(&append(&store, "b", "x", None, 1)), 1);
        assert_eq!(
            store
                .head("a")
                .now_or_never()
                .expect("ready")
                .expect("head")
                .seq,
            3
        );
        let texts: Vec<u64> = store
            .range("a", 1, 3, 10)
            .now_or_never()
            .expect("ready")
            .expect("range")
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(texts, [2, 3]);
        let before: Vec<u64> = store
            .before("a", 3, 1)
            .now_or_never()
            .expect("ready")
            .expect("before")
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(before, [2]);
    }

    #[test]
    fn a_cid_is_stored_once_within_the_window() {
        let store = MemoryStore::new(retention());
        let first = append(&store, "a", "hi", Some("m1"), 1_000);
        let again = append(&store, "a", "hi", Some("m1"), 2_000);
        assert!(
            matches!(again, Appended::Duplicate { seq: 1, .. }),
            "{again:?}"
        );
        assert_eq!(seq(&first), 1);
        assert_eq!(
            store
                .head("a")
                .now_or_never()
                .expect("ready")
                .expect("head")
                .seq,
            1
        );
        // Past the window, the same cid is a new message.
        let later = append(&store, "a", "hi", Some("m1"), 1_000 + 601_000);
        assert!(matches!(later, Appended::Stored { .. }));
    }

    #[test]
    fn retention_keeps_the_latest_and_reads_show_the_gap() {
        let store = MemoryStore::new(retention());
        for _ in 0..8 {
            append(&store, "a", "x", None, 1);
        }
        let kept: Vec<u64> = store
            .range("a", 0, 8, 100)
            .now_or_never()
            .expect("ready")
            .expect("range")
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(kept, [4, 5, 6, 7, 8]);
    }

    #[test]
    fn every_room_gets_its_own_epoch() {
        let store = MemoryStore::new(retention());
        assert_ne!(
            store
                .head("a")
                .now_or_never()
                .expect("ready")
                .expect("a")
                .epoch,
            store
                .head("b")
                .now_or_never()
                .expect("ready")
                .expect("b")
                .epoch
        );
    }
}
