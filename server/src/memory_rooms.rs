//! Rooms kept in this process.

use crate::{
    ClientId, Frame, Peer,
    outbox::{Push, Stop},
    rooms::{Delivery, Joined, Rooms},
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

/// The in-memory [`Rooms`]: a map from room id to members, and a directory of connected clients.
///
/// The room map's lock is held only to find, create or delete a room; fan-out happens under the
/// room's own lock, so publishes to different rooms do not wait on each other, and a join never
/// waits for a fan-out in another room.
#[derive(Debug, Default)]
pub struct MemoryRooms {
    // Std mutexes: no critical section awaits. Lock order: `rooms`, then a room's `state`.
    rooms: Mutex<HashMap<Arc<str>, Arc<Room>>>,
    clients: Mutex<HashMap<ClientId, Arc<Peer>>>,
}

#[derive(Debug, Default)]
struct Room {
    state: Mutex<RoomState>,
}

#[derive(Debug, Default)]
struct RoomState {
    members: HashMap<ClientId, Member>,
    // The seq of the last room message delivered here: later publishes of it, or of anything
    // older, are not delivered again.
    published: u64,
}

#[derive(Debug)]
struct Member {
    peer: Arc<Peer>,
    // What was published to the room for this member while it catches up (`join_held`). Boxed:
    // rare, and every membership pays for the field.
    held: Option<Box<Held>>,
}

#[derive(Debug, Default)]
struct Held {
    frames: Vec<Frame>,
    bytes: usize,
}

impl MemoryRooms {
    /// No rooms, no clients.
    pub fn new() -> Self {
        Self::default()
    }

    fn room(&self, room: &str) -> Option<Arc<Room>> {
        lock(&self.rooms).get(room).cloned()
    }

    /// Adds `peer` to `room` (created with `top` if new) and runs `then` under the room's lock.
    fn add<T>(
        &self,
        room: &str,
        peer: &Arc<Peer>,
        top: u64,
        held: bool,
        then: impl FnOnce(Joined) -> T,
    ) -> (Joined, T) {
        let mut rooms = lock(&self.rooms);
        // Looked up before it is created: a join to an existing room allocates nothing here.
        if !rooms.contains_key(room) {
            let created = Room {
                state: Mutex::new(RoomState {
                    members: HashMap::new(),
                    published: top,
                }),
            };
            rooms.insert(Arc::from(room), Arc::new(created));
        }
        let room = &rooms[room];
        let mut state = lock(&room.state);
        let member = Member {
            peer: Arc::clone(peer),
            held: held.then(Box::default),
        };
        let new_member = state.members.insert(peer.id(), member).is_none();
        let joined = Joined {
            members: state.members.len(),
            new_member,
            seq: state.published,
        };
        // Still holding the room's lock, which every publish to this room takes.
        let result = then(joined);
        (joined, result)
    }
}

/// Locks a mutex, recovering from poisoning: every update under these locks is a single insert or
/// remove, so a panic elsewhere cannot leave the maps half-changed.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Rooms for MemoryRooms {
    fn connect(&self, peer: &Arc<Peer>) -> Option<Arc<Peer>> {
        lock(&self.clients).insert(peer.id(), Arc::clone(peer))
    }

    fn clients(&self) -> Vec<Arc<Peer>> {
        lock(&self.clients).values().cloned().collect()
    }

    fn disconnect(&self, peer: &Arc<Peer>) -> bool {
        let mut clients = lock(&self.clients);
        let current = clients
            .get(&peer.id())
            .is_some_and(|p| Arc::ptr_eq(p, peer));
        if current {
            clients.remove(&peer.id());
        }
        current
    }

    fn join(
        &self,
        room: &str,
        peer: &Arc<Peer>,
        top: u64,
        welcome: &dyn Fn(Joined) -> Frame,
    ) -> (Joined, Push) {
        // Nothing published to the room can be queued for this peer ahead of its welcome.
        self.add(room, peer, top, false, |joined| peer.push(welcome(joined)))
    }

    fn join_held(&self, room: &str, peer: &Arc<Peer>, top: u64) -> Joined {
        self.add(room, peer, top, true, |_| ()).0
    }

    fn open_gate(&self, room: &str, id: ClientId, first: Vec<Frame>) {
        let Some(room) = self.room(room) else {
            return;
        };
        let mut state = lock(&room.state);
        let Some(member) = state.members.get_mut(&id) else {
            return;
        };
        let held = member
            .held
            .take()
            .map(|held| held.frames)
            .unwrap_or_default();
        for frame in first.into_iter().chain(held) {
            member.peer.push(frame);
        }
    }

    fn leave(&self, room_id: &str, peer: &Arc<Peer>) -> Option<usize> {
        let mut rooms = lock(&self.rooms);
        let room = rooms.get(room_id)?;
        let mut state = lock(&room.state);
        let same = |m: &Member| Arc::ptr_eq(&m.peer, peer);
        if !state.members.get(&peer.id()).is_some_and(same) {
            return None;
        }
        state.members.remove(&peer.id());
        let remaining = state.members.len();
        drop(state);
        if remaining == 0 {
            // Holding the map lock, no join can be adding a member to this room right now.
            rooms.remove(room_id);
        }
        Some(remaining)
    }

    fn publish(&self, room: &str, frame: &Frame, except: Option<&Arc<Peer>>) -> Delivery {
        self.fan_out(room, frame, |peer| {
            except.is_some_and(|sender| Arc::ptr_eq(sender, peer))
        })
    }

    fn deliver(&self, room: &str, frame: &Frame, except: Option<ClientId>) -> Delivery {
        self.fan_out(room, frame, |peer| Some(peer.id()) == except)
    }

    fn position(&self, room: &str) -> Option<u64> {
        self.room(room).map(|room| lock(&room.state).published)
    }

    fn active(&self) -> Vec<Arc<str>> {
        lock(&self.rooms).keys().cloned().collect()
    }

    fn send_to(&self, id: ClientId, frame: Frame) -> Option<Push> {
        let peer = lock(&self.clients).get(&id).cloned()?;
        Some(peer.push(frame))
    }

    fn members(&self, room: &str) -> Vec<Arc<Peer>> {
        self.room(room)
            .map(|room| {
                lock(&room.state)
                    .members
                    .values()
                    .map(|m| Arc::clone(&m.peer))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn room_count(&self) -> usize {
        lock(&self.rooms).len()
    }
}

impl MemoryRooms {
    /// Queues `frame` for every member of `room` but those `skip` names; a room message only if
    /// it is newer than the room's last (see [`Rooms::publish`]).
    fn fan_out(&self, room: &str, frame: &Frame, skip: impl Fn(&Arc<Peer>) -> bool) -> Delivery {
        let mut delivery = Delivery::default();
        let Some(room) = self.room(room) else {
            return delivery;
        };
        let mut state = lock(&room.state);
        if let Some(seq) = frame.seq() {
            if seq <= state.published {
                return delivery;
            }
            state.published = seq;
        }
        for member in state.members.values_mut() {
            if skip(&member.peer) {
                continue;
            }
            match &mut member.held {
                None => delivery.record(member.peer.push(frame.clone())),
                Some(held) => {
                    held.bytes += frame.len();
                    if held.bytes > member.peer.outbox().limit() {
                        // It cannot catch up: as a slow consumer whose queue overflowed.
                        member.held = None;
                        member.peer.outbox().stop(Stop::SlowConsumer);
                        delivery.overflowed += 1;
                    } else {
                        held.frames.push(frame.clone());
                        delivery.queued += 1;
                    }
                }
            }
        }
        delivery
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outbox;

    fn peer() -> Arc<Peer> {
        Arc::new(Peer::new(ClientId::random(), Outbox::new(1 << 20)))
    }

    fn join(rooms: &MemoryRooms, room: &str, peer: &Arc<Peer>) -> Joined {
        rooms.join(room, peer, 0, &|_| Frame::raw("joined")).0
    }

    #[test]
    fn the_welcome_is_queued_before_anything_published_after_the_join() {
        let rooms = MemoryRooms::new();
        let (a, b) = (peer(), peer());
        join(&rooms, "r", &a);
        let (joined, push) = rooms.join("r", &b, 0, &|j| {
            assert_eq!(j.members, 2);
            Frame::raw("welcome b")
        });
        assert_eq!((joined.members, push), (2, Push::Queued));
        rooms.publish("r", &Frame::raw("after"), Some(&a));
        let queued: Vec<String> = b
            .outbox()
            .take()
            .iter()
            .map(|f| f.as_str().to_owned())
            .collect();
        assert_eq!(queued, ["welcome b", "after"]);
    }

    #[test]
    fn rooms_are_created_on_first_join_and_deleted_when_empty() {
        let rooms = MemoryRooms::new();
        let (a, b) = (peer(), peer());
        assert_eq!(
            join(&rooms, "r", &a),
            Joined {
                members: 1,
                new_member: true,
                seq: 0,
            }
        );
        assert_eq!(join(&rooms, "r", &b).members, 2);
        assert!(!join(&rooms, "r", &b).new_member);
        assert_eq!(rooms.room_count(), 1);
        assert_eq!(rooms.leave("r", &a), Some(1));
        assert_eq!(rooms.leave("r", &a), None);
        assert_eq!(rooms.leave("r", &b), Some(0));
        assert_eq!(rooms.room_count(), 0);
        assert_eq!(rooms.leave("r", &b), None);
    }

    #[test]
    fn publish_reaches_every_member_but_the_sender() {
        let rooms = MemoryRooms::new();
        let (a, b, c, outsider) = (peer(), peer(), peer(), peer());
        for p in [&a, &b, &c] {
            join(&rooms, "r", p);
        }
        join(&rooms, "other", &outsider);
        for p in [&a, &b, &c, &outsider] {
            assert_eq!(p.outbox().take().len(), 1, "the welcome");
        }
        let frame = Frame::raw("x");
        let delivery = rooms.publish("r", &frame, Some(&a));
        assert_eq!(delivery.queued, 2);
        assert_eq!(a.outbox().take().len(), 0);
        assert_eq!(b.outbox().take().len(), 1);
        assert_eq!(c.outbox().take().len(), 1);
        assert_eq!(outsider.outbox().take().len(), 0);
        assert_eq!(rooms.publish("nowhere", &frame, None), Delivery::default());
    }

    #[test]
    fn a_room_message_is_delivered_once_in_order() {
        let rooms = MemoryRooms::new();
        let a = peer();
        assert_eq!(join(&rooms, "r", &a).seq, 0);
        a.outbox().take();
        for seq in [1, 2, 2, 1, 3] {
            rooms.publish("r", &Frame::raw("m").with_seq(seq), None);
        }
        let seqs: Vec<Option<u64>> = a.outbox().take().iter().map(Frame::seq).collect();
        assert_eq!(seqs, [Some(1), Some(2), Some(3)]);
        // A room created for a store that already holds 10 messages delivers from 11 on.
        let b = peer();
        let (joined, _) = rooms.join("new", &b, 10, &|_| Frame::raw("joined"));
        assert_eq!(joined.seq, 10);
        rooms.publish("new", &Frame::raw("old").with_seq(10), None);
        rooms.publish("new", &Frame::raw("new").with_seq(11), None);
        let texts: Vec<String> = b
            .outbox()
            .take()
            .iter()
            .map(|f| f.as_str().to_owned())
            .collect();
        assert_eq!(texts, ["joined", "new"]);
    }

    #[test]
    fn a_held_member_gets_what_it_missed_then_what_was_held_in_order() {
        let rooms = MemoryRooms::new();
        let (a, b) = (peer(), peer());
        join(&rooms, "r", &a);
        rooms.publish("r", &Frame::raw("m1").with_seq(1), None);
        let joined = rooms.join_held("r", &b, 0);
        assert_eq!(joined.seq, 1);
        rooms.publish("r", &Frame::raw("m2").with_seq(2), None);
        rooms.publish("r", &Frame::raw("event"), None);
        assert_eq!(b.outbox().take().len(), 0, "held back");
        rooms.open_gate(
            "r",
            b.id(),
            vec![Frame::raw("joined"), Frame::raw("m1").with_seq(1)],
        );
        rooms.publish("r", &Frame::raw("m3").with_seq(3), None);
        let texts: Vec<String> = b
            .outbox()
            .take()
            .iter()
            .map(|f| f.as_str().to_owned())
            .collect();
        assert_eq!(texts, ["joined", "m1", "m2", "event", "m3"]);
    }

    #[test]
    fn send_to_reaches_connected_clients_only() {
        let rooms = MemoryRooms::new();
        let a = peer();
        assert_eq!(rooms.send_to(a.id(), Frame::raw("x")), None);
        rooms.connect(&a);
        assert_eq!(rooms.send_to(a.id(), Frame::raw("x")), Some(Push::Queued));
        rooms.disconnect(&a);
        assert_eq!(rooms.send_to(a.id(), Frame::raw("x")), None);
    }
}
