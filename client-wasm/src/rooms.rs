//! `Rooms`: the rooms a socket joined, and where it stands in each one's history.
//!
//! Part of the machine (`machine.rs`), kept apart because it is a concept of its own: the
//! machine decides *when* a room is joined and what goes out; `Rooms` knows, per room, whether
//! its `join` went out on the current connection and the position of the last room message
//! delivered, and from that which messages are new, which are a replay's overlap (dropped), and
//! what `since` the next join carries.
//!
//! A room is a key, a small number the machine hands out at [`join`](Rooms::join) (the lowest
//! free one): the drivers keep the room's name under it, since no string crosses into the
//! JavaScript build. Epochs are numbers for the same reason: the driver gives the same epoch
//! string the same number, and nothing here needs more than equality.

use crate::prelude::*;

/// Where a room stands with the server on the current connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// No room: the key is free.
    Free,
    /// `join` was called while no connection was open: it goes out at the next open.
    Wanted,
    /// It went out on an earlier connection: it goes out again at the next open with `rejoin`.
    Lost,
    /// It went out on this connection; `joined` has not come yet.
    Sent,
    /// The server answered with `joined`.
    Joined,
}

/// A position in a room's history: the epoch (as the driver numbers it) and the `seq` of the
/// last room message delivered (0: before the first).
pub(crate) type Position = (u32, u64);

/// The epoch of a room with no position yet (drivers number epochs from 0, one per room at
/// most).
const NO_EPOCH: u32 = u32::MAX;

/// One room. Plain numbers rather than `Option`s: the npm build pays for every branch.
#[derive(Debug, Clone, Copy)]
struct Room {
    link: Link,
    /// The position: `NO_EPOCH` until the server has told one.
    epoch: u32,
    seq: u64,
    /// After a join without `since`, the room's messages up to here are its recent history
    /// (asked for with `recent`), delivered as they come, not duplicates of what was delivered.
    history_until: u64,
}

/// A `join` to send: the room's key, and `since` or `recent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Join {
    /// Where the socket left off in the room: the server replays what came after it.
    pub(crate) since: Option<Position>,
    /// For a join without `since`: how many of the room's latest messages to ask for.
    pub(crate) recent: u32,
}

/// What a `joined` answer says about the messages missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recovered {
    /// A join without `since` (or a server without history): nothing was missed.
    Fresh,
    /// Every message after `since` follows.
    Yes,
    /// None of them can be sent (the reason is in the answer, which the driver keeps).
    No,
}

/// The rooms; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct Rooms {
    rooms: Vec<Room>,
}

impl Rooms {
    fn get(&mut self, key: u32) -> Option<&mut Room> {
        self.rooms
            .get_mut(key as usize)
            .filter(|room| room.link != Link::Free)
    }

    /// Whether `key` names a joined room.
    pub(crate) fn has(&self, key: u32) -> bool {
        self.rooms
            .get(key as usize)
            .is_some_and(|room| room.link != Link::Free)
    }

    /// How many keys there are (some may be free).
    pub(crate) fn len(&self) -> u32 {
        // At most the server's room limit.
        self.rooms.len() as u32
    }

    /// The keys of the joined rooms.
    #[cfg(feature = "socket")]
    pub(crate) fn keys(&self) -> impl Iterator<Item = u32> + '_ {
        (0u32..)
            .zip(&self.rooms)
            .filter_map(|(key, room)| (room.link != Link::Free).then_some(key))
    }

    /// The room's position, once the server has told it.
    #[cfg(any(feature = "socket", test))]
    pub(crate) fn position(&self, key: u32) -> Option<Position> {
        let room = self.rooms.get(key as usize)?;
        (room.link != Link::Free && room.epoch != NO_EPOCH).then_some((room.epoch, room.seq))
    }

    /// Joins a room: `key` if the socket joined it before (the driver found its name), else a new
    /// one. Returns the room's key, and whether its `join` goes out now (if `open`; else at the
    /// next open). A join already on its way sends nothing; one of a room joined on this
    /// connection sends its `join` again (the server answers it again, harmlessly).
    pub(crate) fn join(&mut self, key: Option<u32>, open: bool) -> (u32, bool) {
        let key = match key.filter(|&key| self.has(key)) {
            Some(key) => key,
            None => self.add(),
        };
        let send = match self.get(key) {
            Some(room) if room.link != Link::Sent => {
                room.link = if open { Link::Sent } else { Link::Wanted };
                open
            }
            _ => false,
        };
        (key, send)
    }

    fn add(&mut self) -> u32 {
        let room = Room {
            link: Link::Wanted,
            epoch: NO_EPOCH,
            seq: 0,
            history_until: 0,
        };
        match self.rooms.iter_mut().position(|r| r.link == Link::Free) {
            Some(index) => {
                // No indexing: a bounds check's panic would bring `core::fmt` into the npm
                // build.
                if let Some(slot) = self.rooms.get_mut(index) {
                    *slot = room;
                }
                index as u32
            }
            None => {
                self.rooms.push(room);
                self.len() - 1
            }
        }
    }

    /// The `join` of room `key` that is going out: with `since` once the room has a position,
    /// else with `recent`.
    pub(crate) fn join_of(&self, key: u32, recent: u32) -> Join {
        match self.rooms.get(key as usize) {
            Some(room) if room.epoch != NO_EPOCH => Join {
                since: Some((room.epoch, room.seq)),
                recent: 0,
            },
            _ => Join {
                since: None,
                recent,
            },
        }
    }

    /// Forgets a room.
    pub(crate) fn leave(&mut self, key: u32) {
        if let Some(room) = self.get(key) {
            room.link = Link::Free;
        }
    }

    /// A connection opened: whether room `key`'s `join` must go out on it. Rooms joined on an
    /// earlier connection go out again only with `rejoin`.
    pub(crate) fn due(&mut self, key: u32, rejoin: bool) -> bool {
        let Some(room) = self.get(key) else {
            return false;
        };
        let due = room.link == Link::Wanted || (rejoin && room.link == Link::Lost);
        if due {
            room.link = Link::Sent;
        }
        due
    }

    /// The connection ended: every room must be joined again.
    pub(crate) fn lost(&mut self) {
        for room in &mut self.rooms {
            if matches!(room.link, Link::Sent | Link::Joined) {
                room.link = Link::Lost;
            }
        }
    }

    /// The server answered the room's `join`: `at` is its epoch and `seq` (live messages come
    /// after it), if the server keeps history. True if the room could not be recovered, which
    /// the user must be told.
    pub(crate) fn joined(&mut self, key: u32, at: Option<Position>, recovered: Recovered) -> bool {
        let Some(room) = self.get(key) else {
            return false;
        };
        room.link = Link::Joined;
        let Some((epoch, seq)) = at else {
            return false;
        };
        // The epoch is the room's even if the position's was not: a position at 0 fits any.
        room.epoch = epoch;
        room.history_until = 0;
        match recovered {
            // The replay of everything after the position follows.
            Recovered::Yes => {}
            // What was missed is lost: live messages start after `seq`.
            Recovered::No => room.seq = seq,
            // Messages up to `seq` that follow are the room's recent history, not missed ones.
            Recovered::Fresh => {
                room.seq = seq;
                room.history_until = seq;
            }
        }
        recovered == Recovered::No
    }

    /// A room message with `seq` arrived: true to deliver it (and it becomes the position),
    /// false for one already delivered (the overlap of a replay).
    pub(crate) fn message(&mut self, key: u32, seq: u64) -> bool {
        let Some(room) = self.get(key) else {
            return true;
        };
        if room.epoch == NO_EPOCH || seq > room.seq {
            if room.epoch != NO_EPOCH {
                room.seq = seq;
            }
            true
        } else {
            seq <= room.history_until
        }
    }

    /// The server stored this socket's own message at `at` (its ack said so). The server does
    /// not send a connection its own messages, so the position moves past it, but only when it
    /// is the very next one: every message before it has then been delivered. (An ack can
    /// overtake a replay that is still being read; then a later resume may bring the message
    /// back, which is better than skipping others.)
    pub(crate) fn own(&mut self, key: u32, (epoch, seq): Position) {
        if let Some(room) = self.get(key)
            && room.epoch == epoch
            && room.seq + 1 == seq
        {
            room.seq = seq;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(rooms: &mut Rooms, rejoin: bool) -> Vec<u32> {
        (0..rooms.len())
            .filter(|&key| rooms.due(key, rejoin))
            .collect()
    }

    fn joined_at(rooms: &mut Rooms, epoch: u32, seq: u64) -> u32 {
        let (key, send) = rooms.join(None, true);
        assert!(send);
        assert_eq!(
            rooms.join_of(key, 0),
            Join {
                since: None,
                recent: 0
            }
        );
        rooms.joined(key, Some((epoch, seq)), Recovered::Fresh);
        key
    }

    #[test]
    fn keys_are_the_lowest_free() {
        let mut rooms = Rooms::default();
        let a = joined_at(&mut rooms, 1, 0);
        let b = joined_at(&mut rooms, 1, 0);
        assert_eq!((a, b), (0, 1));
        rooms.leave(a);
        assert!(!rooms.has(a));
        assert_eq!(rooms.position(a), None);
        assert_eq!(rooms.join(None, true).0, 0);
    }

    #[test]
    fn live_messages_advance_the_position_and_old_ones_are_dropped() {
        let mut rooms = Rooms::default();
        let key = joined_at(&mut rooms, 7, 10);
        assert!(rooms.message(key, 11));
        assert!(rooms.message(key, 12));
        assert!(!rooms.message(key, 12), "delivered already");
        assert!(!rooms.message(key, 11));
        assert_eq!(rooms.position(key), Some((7, 12)));
    }

    #[test]
    fn without_a_position_everything_is_delivered() {
        let mut rooms = Rooms::default();
        let (key, _) = rooms.join(None, true);
        assert!(rooms.message(key, 3));
        assert!(rooms.message(key, 3));
        rooms.joined(key, None, Recovered::Fresh);
        assert_eq!(rooms.position(key), None, "a server without history");
        assert_eq!(rooms.join_of(key, 5).recent, 5);
    }

    #[test]
    fn recent_history_after_a_fresh_join_is_delivered() {
        let mut rooms = Rooms::default();
        let (key, _) = rooms.join(None, true);
        assert_eq!(rooms.join_of(key, 20).recent, 20);
        rooms.joined(key, Some((1, 5)), Recovered::Fresh);
        for seq in 1..=5 {
            assert!(rooms.message(key, seq), "history {seq}");
        }
        assert!(rooms.message(key, 6));
        assert_eq!(rooms.position(key), Some((1, 6)));
    }

    #[test]
    fn a_rejoin_carries_since_and_a_resume_keeps_the_position() {
        let mut rooms = Rooms::default();
        let key = joined_at(&mut rooms, 3, 4);
        assert!(rooms.message(key, 5));
        rooms.lost();
        assert_eq!(opened(&mut rooms, true), [key]);
        assert_eq!(
            rooms.join_of(key, 20),
            Join {
                since: Some((3, 5)),
                recent: 0
            }
        );
        assert!(!rooms.joined(key, Some((3, 9)), Recovered::Yes));
        assert!(!rooms.message(key, 5), "the overlap");
        assert!(rooms.message(key, 6), "the replay");
        assert_eq!(rooms.position(key), Some((3, 6)));
    }

    #[test]
    fn a_room_not_recovered_starts_over_at_the_new_position() {
        let mut rooms = Rooms::default();
        let key = joined_at(&mut rooms, 3, 4);
        rooms.lost();
        opened(&mut rooms, true);
        assert!(rooms.joined(key, Some((8, 2)), Recovered::No));
        assert_eq!(rooms.position(key), Some((8, 2)));
        assert!(!rooms.message(key, 2));
        assert!(rooms.message(key, 3));
    }

    #[test]
    fn without_rejoin_a_lost_room_waits_for_join() {
        let mut rooms = Rooms::default();
        let key = joined_at(&mut rooms, 3, 4);
        rooms.lost();
        assert!(opened(&mut rooms, false).is_empty());
        assert_eq!(rooms.join(Some(key), true), (key, true));
        assert_eq!(
            rooms.join_of(key, 0).since,
            Some((3, 4)),
            "a resume all the same"
        );
    }

    #[test]
    fn a_join_on_its_way_is_not_sent_twice() {
        let mut rooms = Rooms::default();
        let (key, send) = rooms.join(None, false);
        assert!(!send);
        assert_eq!(rooms.join(Some(key), false), (key, false));
        assert_eq!(
            opened(&mut rooms, false),
            [key],
            "wanted goes out even without rejoin"
        );
        assert_eq!(rooms.join(Some(key), true), (key, false));
        rooms.joined(key, Some((1, 1)), Recovered::Fresh);
        assert_eq!(
            rooms.join(Some(key), true),
            (key, true),
            "joined: sent again"
        );
    }

    #[test]
    fn own_messages_move_the_position_only_when_next() {
        let mut rooms = Rooms::default();
        let key = joined_at(&mut rooms, 1, 4);
        rooms.own(key, (1, 5));
        assert_eq!(rooms.position(key), Some((1, 5)));
        rooms.own(key, (1, 9));
        rooms.own(key, (2, 6));
        assert_eq!(rooms.position(key), Some((1, 5)));
    }
}
