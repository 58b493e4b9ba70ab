//! A join that brings the client up to date first: the messages it missed (`since`), or the
//! room's latest (`recent`), then the live ones, with no gap and nothing twice.

use crate::{
    Frame, Peer, Rooms,
    session::chat_message,
    store::{Entry, Store, StoreError},
};
use std::sync::Arc;
use tether_protocol::{Ack, Joined, Position, RequestId, ServerMessage};

/// A client subscribed to a room with its deliveries held back ([`Rooms::join_held`]), and what
/// it still needs before they flow: read from the store, up to `until` (the last message the room
/// delivered before the client was subscribed), everything after comes live, in order.
///
/// Subscribing first and reading second is what makes the merge exact: a message is either at or
/// before `until` (in the store, since the room delivers only what is stored) or after it (held
/// for the client, then live).
#[derive(Debug)]
pub struct CatchUp {
    /// Where the client is held.
    pub rooms: Arc<dyn Rooms>,
    /// Where the history is read.
    pub store: Arc<dyn Store>,
    /// The client.
    pub peer: Arc<Peer>,
    /// The room.
    pub room: String,
    /// The room's epoch.
    pub epoch: Arc<str>,
    /// The room's size after the join.
    pub members: usize,
    /// The last message the room delivered before the client was subscribed.
    pub until: u64,
    /// Where the client left off, if it asked to resume.
    pub since: Option<Position>,
    /// How many of the latest messages a fresh join asked for.
    pub recent: u32,
    /// The most messages a resume may replay.
    pub max_replay: u64,
}

/// What a join with `since` gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Replay every message after this `seq` up to `until`.
    Replay {
        /// The client's last `seq`.
        after: u64,
    },
    /// The messages missed cannot be sent (no partial replay): `recovered: false` with this
    /// reason.
    Refuse(&'static str),
    /// The latest `n` messages, for a fresh join.
    Recent(u32),
}

/// Decides what a join gets, before anything is read.
pub fn plan(
    since: Option<&Position>,
    recent: u32,
    epoch: &str,
    until: u64,
    max_replay: u64,
) -> Plan {
    let Some(since) = since else {
        return Plan::Recent(recent);
    };
    // A client that saw nothing of the room needs no particular epoch.
    if since.seq != 0 && (since.epoch != epoch || since.seq > until) {
        return Plan::Refuse("epoch_changed");
    }
    if until - since.seq > max_replay {
        return Plan::Refuse("too_many");
    }
    Plan::Replay { after: since.seq }
}

/// Checks a replay read: the entries must be exactly `after + 1 ..= until`. Retention removes the
/// oldest first, so a read that starts late means the gap is older than what is kept.
pub fn check_replay(entries: &[Entry], after: u64, until: u64) -> Result<(), &'static str> {
    let expected = until - after;
    let complete = entries.len() as u64 == expected
        && entries.first().is_none_or(|e| e.seq == after + 1)
        && entries.last().is_none_or(|e| e.seq == until);
    if complete { Ok(()) } else { Err("too_old") }
}

impl CatchUp {
    /// Reads what the client needs, opens its gate, and acks the join (`id`).
    pub async fn run(self, id: Option<RequestId>) {
        let plan = plan(
            self.since.as_ref(),
            self.recent,
            &self.epoch,
            self.until,
            self.max_replay,
        );
        let (recovered, reason, entries) = match plan {
            Plan::Refuse(reason) => (Some(false), Some(reason), Vec::new()),
            Plan::Replay { after } => match self.read(after).await {
                Ok(entries) => match check_replay(&entries, after, self.until) {
                    Ok(()) => (Some(true), None, entries),
                    Err(reason) => (Some(false), Some(reason), Vec::new()),
                },
                Err(_) => (Some(false), Some("unavailable"), Vec::new()),
            },
            Plan::Recent(n) => match self.latest(n).await {
                Ok(entries) => (None, None, entries),
                // The join itself stands; the client can page back with `history`.
                Err(_) => (None, None, Vec::new()),
            },
        };
        let joined = ServerMessage::Joined(Joined {
            epoch: Some(self.epoch.to_string()),
            seq: Some(self.until),
            recovered,
            reason: reason.map(str::to_owned),
            ..Joined::new(self.room.clone(), self.members)
        });
        let mut first = Vec::with_capacity(entries.len() + 1);
        first.push(Frame::encode(&joined));
        for entry in entries {
            let seq = entry.seq;
            let message = ServerMessage::Message(chat_message(&self.room, entry));
            first.push(Frame::encode(&message).with_seq(seq));
        }
        self.rooms.open_gate(&self.room, self.peer.id(), first);
        if let Some(id) = id {
            self.peer
                .push(Frame::encode(&ServerMessage::Ack(Ack::ok(id))));
        }
    }

    async fn read(&self, after: u64) -> Result<Vec<Entry>, StoreError> {
        let limit = (self.until - after) as usize;
        self.store.range(&self.room, after, self.until, limit).await
    }

    async fn latest(&self, n: u32) -> Result<Vec<Entry>, StoreError> {
        self.store
            .before(&self.room, self.until + 1, n as usize)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(epoch: &str, seq: u64) -> Position {
        Position {
            epoch: epoch.into(),
            seq,
        }
    }

    fn entries(seqs: std::ops::RangeInclusive<u64>) -> Vec<Entry> {
        seqs.map(|seq| Entry {
            seq,
            from: "c".into(),
            name: None,
            text: "t".into(),
            timestamp: 0,
        })
        .collect()
    }

    #[test]
    fn a_resume_in_the_same_epoch_replays_what_came_after() {
        assert_eq!(
            plan(Some(&at("e", 5)), 0, "e", 9, 1000),
            Plan::Replay { after: 5 }
        );
        assert_eq!(
            plan(Some(&at("e", 9)), 0, "e", 9, 1000),
            Plan::Replay { after: 9 }
        );
    }

    #[test]
    fn a_resume_that_cannot_be_exact_is_refused_whole() {
        assert_eq!(
            plan(Some(&at("old", 5)), 0, "e", 9, 1000),
            Plan::Refuse("epoch_changed")
        );
        assert_eq!(
            plan(Some(&at("e", 12)), 0, "e", 9, 1000),
            Plan::Refuse("epoch_changed")
        );
        assert_eq!(
            plan(Some(&at("e", 5)), 0, "e", 2000, 1000),
            Plan::Refuse("too_many")
        );
        // Nothing seen yet: any epoch will do.
        assert_eq!(
            plan(Some(&at("old", 0)), 0, "e", 9, 1000),
            Plan::Replay { after: 0 }
        );
    }

    #[test]
    fn a_replay_must_be_complete() {
        assert_eq!(check_replay(&entries(6..=9), 5, 9), Ok(()));
        assert_eq!(check_replay(&[], 9, 9), Ok(()));
        assert_eq!(check_replay(&entries(7..=9), 5, 9), Err("too_old"));
        assert_eq!(check_replay(&entries(6..=8), 5, 9), Err("too_old"));
    }
}
