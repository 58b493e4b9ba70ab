//! What crosses nodes: the seam between this node's rooms and the others'.

use crate::{
    ClientId, Frame, Peer, Rooms,
    rooms::Delivery,
    store::{Reading, ready},
};
use std::{fmt, sync::Arc};
use tether_protocol::{Member, ServerMessage, UserEvent};

/// Who is in a room, as a `presence` answer lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roster {
    /// The first members, at most the limit asked for.
    pub members: Vec<Member>,
    /// How many members the room has in all.
    pub total: usize,
}

/// How a room's messages, events and members reach every node, and a client any node.
///
/// [`Rooms`] holds this node's members and their outboxes; a backplane decides what else hears
/// of them. [`LocalBackplane`] (one node, the default) has nothing to cross: everything is in
/// [`Rooms`]. [`RedisBackplane`](crate::redis_backplane::RedisBackplane) shares rooms,
/// presence and the client directory through Redis with the other nodes.
///
/// Calls come from the connection code after it changed [`Rooms`]; the answers that may need a
/// round trip are futures, ready at once where the backplane can answer from memory.
pub trait Backplane: Send + Sync + fmt::Debug + 'static {
    /// A room message this node's store has just stored (from its append's `done`), with its
    /// `seq`: delivered to every member but the sender's connection.
    fn stored(&self, room: &str, frame: &Frame, sender: &Arc<Peer>) -> Delivery;

    /// A room event that is not about membership (typing): to every member but `sender`'s
    /// client, on every node.
    fn event(&self, room: &str, frame: &Frame, sender: &Arc<Peer>) -> Delivery;

    /// `peer` joined `room` here; `new_member` if it was not a member here already. Its
    /// `user:joined` ([`user_joined`]) goes to the room's other members if it is new to the
    /// room on every node (a client back within the rejoin grace, here or on another node, is
    /// not, nor another tab of a user already there); the frame is encoded only then.
    fn joined(&self, room: &str, peer: &Arc<Peer>, new_member: bool) -> Delivery;

    /// `peer` left `room` here, leaving `remaining` members here. Its `user:left`
    /// ([`user_left`]) goes to the room's other members, unless the client is in the room on
    /// another node now (it came back there within the grace) or its user still is.
    fn left(&self, room: &str, peer: &Arc<Peer>, remaining: usize) -> Delivery;

    /// The room's members on every node: the first `limit`, and how many in all.
    fn presence(&self, room: &str, limit: usize) -> Reading<Roster>;

    /// `peer` connected here: reachable by [`send_to`](Self::send_to) from other nodes.
    fn connected(&self, peer: &Arc<Peer>);

    /// `peer`, this node's connection of its client, is gone.
    fn disconnected(&self, peer: &Arc<Peer>);

    /// Queues `frame` for client `id`, which is not connected here. Resolves with whether it
    /// was connected anywhere.
    fn send_to(&self, id: ClientId, frame: &Frame) -> Reading<bool>;
}

/// The backplane of a server alone: every member is on this node.
#[derive(Debug)]
pub struct LocalBackplane {
    rooms: Arc<dyn Rooms>,
}

impl LocalBackplane {
    /// Delivers to the members in `rooms`.
    pub fn new(rooms: Arc<dyn Rooms>) -> Self {
        Self { rooms }
    }
}

impl Backplane for LocalBackplane {
    fn stored(&self, room: &str, frame: &Frame, sender: &Arc<Peer>) -> Delivery {
        // The store settles a room's appends in `seq` order: published in that order.
        self.rooms.publish(room, frame, Some(sender))
    }

    fn event(&self, room: &str, frame: &Frame, sender: &Arc<Peer>) -> Delivery {
        self.rooms.publish(room, frame, Some(sender))
    }

    fn joined(&self, room: &str, peer: &Arc<Peer>, new_member: bool) -> Delivery {
        // A user already here in another tab is not new to the room.
        if new_member && !self.other_tab(room, peer) {
            self.rooms
                .publish(room, &user_joined(room, peer), Some(peer))
        } else {
            Delivery::default()
        }
    }

    fn left(&self, room: &str, peer: &Arc<Peer>, remaining: usize) -> Delivery {
        // An empty room is gone: no one to tell.
        if remaining == 0 || self.other_tab(room, peer) {
            return Delivery::default();
        }
        self.rooms.publish(room, &user_left(room, peer), Some(peer))
    }

    fn presence(&self, room: &str, limit: usize) -> Reading<Roster> {
        ready(Ok(roster(
            self.rooms.members(room).iter().map(|peer| member(peer)),
            limit,
        )))
    }

    fn connected(&self, _peer: &Arc<Peer>) {}

    fn disconnected(&self, _peer: &Arc<Peer>) {}

    fn send_to(&self, _id: ClientId, _frame: &Frame) -> Reading<bool> {
        ready(Ok(false))
    }
}

impl LocalBackplane {
    /// Whether another connection of `peer`'s user (token auth) is in the room.
    fn other_tab(&self, room: &str, peer: &Arc<Peer>) -> bool {
        let Some(identity) = peer.identity() else {
            return false;
        };
        self.rooms.members(room).iter().any(|other| {
            !Arc::ptr_eq(other, peer) && other.identity().is_some_and(|o| o.user == identity.user)
        })
    }
}

/// `peer`'s `user:joined` for `room`.
pub fn user_joined(room: &str, peer: &Peer) -> Frame {
    Frame::encode(&ServerMessage::UserJoined(user_event(room, peer)))
}

/// `peer`'s `user:left` for `room`.
pub fn user_left(room: &str, peer: &Peer) -> Frame {
    Frame::encode(&ServerMessage::UserLeft(user_event(room, peer)))
}

fn user_event(room: &str, peer: &Peer) -> UserEvent {
    UserEvent {
        user_id: peer.user(),
        room_id: room.to_owned(),
        name: peer.name().map(|n| n.to_string()),
    }
}

/// A room's members as `presence` lists them: each user once (several tabs of one user, with
/// token auth, are one member), the first `limit`.
pub fn roster(members: impl Iterator<Item = Member>, limit: usize) -> Roster {
    let mut seen = std::collections::HashSet::new();
    let mut roster = Roster::default();
    for member in members {
        if seen.insert(member.user_id.clone()) {
            roster.total += 1;
            if roster.members.len() < limit {
                roster.members.push(member);
            }
        }
    }
    roster
}

/// A connected client as `presence` lists it.
pub fn member(peer: &Peer) -> Member {
    Member {
        user_id: peer.user(),
        name: peer.name().map(|n| n.to_string()),
    }
}
