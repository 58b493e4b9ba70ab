//! The seam between connections and room state.

use crate::{ClientId, Frame, Peer, outbox::Push};
use std::{fmt, sync::Arc};

/// Where rooms live: the one interface connection code uses to reach other clients.
///
/// These are this node's members and their outboxes: [`MemoryRooms`](crate::MemoryRooms)
/// keeps them in this process. What crosses nodes goes through the
/// [`Backplane`](crate::backplane::Backplane), which delivers here with
/// [`publish`](Self::publish) or [`deliver`](Self::deliver).
pub trait Rooms: Send + Sync + fmt::Debug + 'static {
    /// Makes a connected client reachable by [`send_to`](Self::send_to). Returns the connection
    /// it replaces: an older one with the same client id (a client that came back with its
    /// resume token before the server noticed its old connection was gone).
    fn connect(&self, peer: &Arc<Peer>) -> Option<Arc<Peer>>;

    /// Every connected client.
    fn clients(&self) -> Vec<Arc<Peer>>;

    /// Forgets a connection, unless a newer one of the same client replaced it (then returns
    /// false). Callers leave its rooms first.
    fn disconnect(&self, peer: &Arc<Peer>) -> bool;

    /// Adds a client to a room, creating the room if needed, and queues `welcome(joined)` (its
    /// `joined` reply) for it before anything published to the room can reach it: a client sees
    /// its own `joined` before any event of the room it joined. Returns what the join did and how
    /// the welcome was queued.
    ///
    /// `top` is the `seq` of the room's latest stored message: a room created by this join
    /// delivers only messages after it (see [`publish`](Self::publish)).
    fn join(
        &self,
        room: &str,
        peer: &Arc<Peer>,
        top: u64,
        welcome: &dyn Fn(Joined) -> Frame,
    ) -> (Joined, Push);

    /// Adds a client to a room as [`join`](Self::join) does, but holds back everything published
    /// to the room for it until [`open_gate`](Self::open_gate): the client is subscribed, and
    /// nothing published from now on is missed, while what it missed before is read from the
    /// store. `Joined::seq` is where the live messages take over.
    fn join_held(&self, room: &str, peer: &Arc<Peer>, top: u64) -> Joined;

    /// Queues `first` for a client joined with [`join_held`](Self::join_held) (its `joined` and
    /// the messages it missed, up to `Joined::seq`), then what was held back for it, in order,
    /// and delivers the room's messages to it directly from then on. Does nothing if the client
    /// left the room meanwhile.
    fn open_gate(&self, room: &str, id: ClientId, first: Vec<Frame>);

    /// Removes a connection from a room, deleting the room once it is empty. Returns how many
    /// members remain, or `None` if the connection was not in the room (or a newer connection of
    /// the same client took its place there).
    fn leave(&self, room: &str, peer: &Arc<Peer>) -> Option<usize>;

    /// Queues a frame for every member of a room except the connection `except` (the sender's:
    /// a newer connection of the same client is not excluded, so a client that came back gets
    /// its own message whose ack went to the old connection).
    ///
    /// A room message (a frame with a `seq`) is delivered only if it is newer than the last one
    /// the room delivered: each member gets a room's messages once each, in `seq` order, however
    /// often and from wherever they are published.
    fn publish(&self, room: &str, frame: &Frame, except: Option<&Arc<Peer>>) -> Delivery;

    /// Queues a frame from another node for every member of a room except the client `except`,
    /// with the same once-each, in-order rule for room messages as [`publish`](Self::publish).
    fn deliver(&self, room: &str, frame: &Frame, except: Option<ClientId>) -> Delivery;

    /// The `seq` of the last room message the room delivered, or `None` if the room has no
    /// members here.
    fn position(&self, room: &str) -> Option<u64>;

    /// The rooms with members here.
    fn active(&self) -> Vec<Arc<str>>;

    /// Queues a frame for one client. Returns `None` if no such client is connected.
    fn send_to(&self, id: ClientId, frame: Frame) -> Option<Push>;

    /// The members of a room (empty if it does not exist).
    fn members(&self, room: &str) -> Vec<Arc<Peer>>;

    /// How many rooms exist.
    fn room_count(&self) -> usize;
}

/// The result of [`Rooms::join`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Joined {
    /// How many members the room has now.
    pub members: usize,
    /// False if the client was already a member.
    pub new_member: bool,
    /// The `seq` of the last room message delivered in the room before this join: what the
    /// client gets live comes after it.
    pub seq: u64,
}

/// What a publish did, member by member.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Frames queued.
    pub queued: u64,
    /// Droppable frames dropped for members whose queue is filling up.
    pub dropped: u64,
    /// Members given up on as slow consumers by this publish.
    pub overflowed: u64,
}

impl Delivery {
    /// Counts one push.
    pub fn record(&mut self, push: Push) {
        match push {
            Push::Queued => self.queued += 1,
            Push::Dropped => self.dropped += 1,
            Push::Overflowed => self.overflowed += 1,
            Push::Closed => {}
        }
    }
}
