//! What crosses nodes: the seam between this node's rooms and the others'.

use crate::{Frame, Peer, Rooms, rooms::Delivery};
use std::{fmt, sync::Arc};

/// How a room's messages and events reach its members on every node.
///
/// [`Rooms`] holds this node's members and their outboxes; a backplane decides what else hears
/// of a room. [`LocalBackplane`] (one node, the default) delivers to this node's members only;
/// [`RedisBackplane`](crate::redis_backplane::RedisBackplane) delivers through Redis pub/sub to
/// the members on every node, this one included.
pub trait Backplane: Send + Sync + fmt::Debug + 'static {
    /// A room message this node's store has just stored (from its append's `done`), with its
    /// `seq`: delivered to every member but the sender's connection.
    fn stored(&self, room: &str, frame: &Frame, sender: &Arc<Peer>) -> Delivery;

    /// A room event (a member joined or left, typing): to every member but `sender`'s client.
    fn event(&self, room: &str, frame: &Frame, sender: &Arc<Peer>) -> Delivery;

    /// This node's membership of `room` changed between none and some: a backplane that
    /// subscribes per room starts or stops hearing of it. Called after the change, from any
    /// thread, possibly out of order: it rechecks [`Rooms`] itself.
    fn watch(&self, room: &str);
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

    fn watch(&self, _room: &str) {}
}
