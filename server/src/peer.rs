//! A connected client, as rooms see it.

use crate::{ClientId, Frame, Outbox, auth::Identity, outbox::Push};
use std::sync::{Arc, RwLock};

/// One connected client: its id, its display name and its outbox. Rooms hold an `Arc<Peer>` per
/// member and publish by pushing into the outbox; only the connection task writes to the socket.
#[derive(Debug)]
pub struct Peer {
    id: ClientId,
    // Read on every event the client causes, written only by `identify`.
    name: RwLock<Option<Arc<str>>>,
    outbox: Outbox,
    // Who the connection is, with token auth on.
    identity: Option<Arc<Identity>>,
}

impl Peer {
    /// A peer with no display name yet.
    pub fn new(id: ClientId, outbox: Outbox) -> Self {
        Self {
            id,
            name: RwLock::new(None),
            outbox,
            identity: None,
        }
    }

    /// A peer whose token says who it is: its user, and its name if the token gives one.
    pub fn with_identity(id: ClientId, outbox: Outbox, identity: Arc<Identity>) -> Self {
        Self {
            id,
            name: RwLock::new(identity.name.clone()),
            outbox,
            identity: Some(identity),
        }
    }

    /// Who the connection is, with token auth on.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_deref()
    }

    /// The id others see in `from` and `userId`: the token's user, or the client id without auth.
    pub fn user(&self) -> String {
        match &self.identity {
            Some(identity) => identity.user.to_string(),
            None => self.id.to_string(),
        }
    }

    /// The client's id.
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// The client's display name, if it sent `identify`.
    pub fn name(&self) -> Option<Arc<str>> {
        self.name.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sets the display name.
    pub fn set_name(&self, name: Arc<str>) {
        *self.name.write().unwrap_or_else(|e| e.into_inner()) = Some(name);
    }

    /// The client's outgoing queue.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Queues a frame for this client.
    pub fn push(&self, frame: Frame) -> Push {
        self.outbox.push(frame)
    }
}
