//! Rooms kept in this process.

use crate::{
    ClientId, Frame, Peer,
    outbox::Push,
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
    // Std mutexes: no critical section awaits. Lock order: `rooms`, then a room's `members`.
    rooms: Mutex<HashMap<Arc<str>, Arc<Room>>>,
    clients: Mutex<HashMap<ClientId, Arc<Peer>>>,
}

#[derive(Debug, Default)]
struct Room {
    members: Mutex<HashMap<ClientId, Arc<Peer>>>,
}

impl MemoryRooms {
    /// No rooms, no clients.
    pub fn new() -> Self {
        Self::default()
    }

    fn room(&self, room: &str) -> Option<Arc<Room>> {
        lock(&self.rooms).get(room).cloned()
    }
}

/// Locks a mutex, recovering from poisoning: every update under these locks is a single insert or
/// remove, so a panic elsewhere cannot leave the maps half-changed.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Rooms for MemoryRooms {
    fn connect(&self, peer: &Arc<Peer>) {
        lock(&self.clients).insert(peer.id(), Arc::clone(peer));
    }

    fn disconnect(&self, id: ClientId) {
        lock(&self.clients).remove(&id);
    }

    fn join(
        &self,
        room: &str,
        peer: &Arc<Peer>,
        welcome: &dyn Fn(Joined) -> Frame,
    ) -> (Joined, Push) {
        let mut rooms = lock(&self.rooms);
        let room = rooms.entry(Arc::from(room)).or_default();
        let mut members = lock(&room.members);
        let new_member = members.insert(peer.id(), Arc::clone(peer)).is_none();
        let joined = Joined {
            members: members.len(),
            new_member,
        };
        // Still holding the member lock, which every publish to this room takes: nothing
        // published to the room can be queued for this peer ahead of its welcome.
        let push = peer.push(welcome(joined));
        (joined, push)
    }

    fn leave(&self, room_id: &str, id: ClientId) -> Option<usize> {
        let mut rooms = lock(&self.rooms);
        let room = rooms.get(room_id)?;
        let mut members = lock(&room.members);
        members.remove(&id)?;
        let remaining = members.len();
        drop(members);
        if remaining == 0 {
            // Holding the map lock, no join can be adding a member to this room right now.
            rooms.remove(room_id);
        }
        Some(remaining)
    }

    fn publish(&self, room: &str, frame: &Frame, except: Option<ClientId>) -> Delivery {
        let mut delivery = Delivery::default();
        let Some(room) = self.room(room) else {
            return delivery;
        };
        let members = lock(&room.members);
        for (id, peer) in members.iter() {
            if Some(*id) != except {
                delivery.record(peer.push(frame.clone()));
            }
        }
        delivery
    }

    fn send_to(&self, id: ClientId, frame: Frame) -> Option<Push> {
        let peer = lock(&self.clients).get(&id).cloned()?;
        Some(peer.push(frame))
    }

    fn members(&self, room: &str) -> Vec<Arc<Peer>> {
        self.room(room)
            .map(|room| lock(&room.members).values().cloned().collect())
            .unwrap_or_default()
    }

    fn room_count(&self) -> usize {
        lock(&self.rooms).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outbox;
    use tokio_util::sync::CancellationToken;

    fn peer() -> Arc<Peer> {
        Arc::new(Peer::new(
            ClientId::random(),
            Outbox::new(1 << 20, CancellationToken::new()),
        ))
    }

    fn join(rooms: &MemoryRooms, room: &str, peer: &Arc<Peer>) -> Joined {
        rooms.join(room, peer, &|_| Frame::raw("joined")).0
    }

    #[test]
    fn the_welcome_is_queued_before_anything_published_after_the_join() {
        let rooms = MemoryRooms::new();
        let (a, b) = (peer(), peer());
        join(&rooms, "r", &a);
        let (joined, push) = rooms.join("r", &b, &|j| {
            assert_eq!(j.members, 2);
            Frame::raw("welcome b")
        });
        assert_eq!((joined.members, push), (2, Push::Queued));
        rooms.publish("r", &Frame::raw("after"), Some(a.id()));
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
                new_member: true
            }
        );
        assert_eq!(join(&rooms, "r", &b).members, 2);
        assert!(!join(&rooms, "r", &b).new_member);
        assert_eq!(rooms.room_count(), 1);
        assert_eq!(rooms.leave("r", a.id()), Some(1));
        assert_eq!(rooms.leave("r", a.id()), None);
        assert_eq!(rooms.leave("r", b.id()), Some(0));
        assert_eq!(rooms.room_count(), 0);
        assert_eq!(rooms.leave("r", b.id()), None);
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
        let delivery = rooms.publish("r", &frame, Some(a.id()));
        assert_eq!(delivery.queued, 2);
        assert_eq!(a.outbox().take().len(), 0);
        assert_eq!(b.outbox().take().len(), 1);
        assert_eq!(c.outbox().take().len(), 1);
        assert_eq!(outsider.outbox().take().len(), 0);
        assert_eq!(rooms.publish("nowhere", &frame, None), Delivery::default());
    }

    #[test]
    fn send_to_reaches_connected_clients_only() {
        let rooms = MemoryRooms::new();
        let a = peer();
        assert_eq!(rooms.send_to(a.id(), Frame::raw("x")), None);
        rooms.connect(&a);
        assert_eq!(rooms.send_to(a.id(), Frame::raw("x")), Some(Push::Queued));
        rooms.disconnect(a.id());
        assert_eq!(rooms.send_to(a.id(), Frame::raw("x")), None);
    }
}
