//! Messages sent while the socket is not open, waiting for it to open.

use crate::SendError;
use crate::prelude::*;
use alloc::collections::VecDeque;

/// Something the send queue can hold: it needs only the size on the wire.
pub trait Payload {
    /// The size in bytes on the wire (UTF-8 for text), for the queue's byte bound.
    fn size(&self) -> usize;
}

/// A message to send: text or binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
}

impl Payload for Outgoing {
    fn size(&self) -> usize {
        self.len()
    }
}

impl Outgoing {
    /// The payload size in bytes.
    pub fn len(&self) -> usize {
        match self {
            Self::Text(text) => text.len(),
            Self::Binary(bytes) => bytes.len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Bounds of the send queue. Default: 1000 messages and 1 MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueOptions {
    /// The most messages that may wait. 0 disables queueing: sends while not open fail.
    pub max_messages: usize,
    /// The most bytes that may wait.
    pub max_bytes: usize,
}

impl Default for QueueOptions {
    fn default() -> Self {
        Self {
            max_messages: 1000,
            max_bytes: 1024 * 1024,
        }
    }
}

impl QueueOptions {
    /// Sets the most messages that may wait.
    pub fn max_messages(mut self, max: usize) -> Self {
        self.max_messages = max;
        self
    }

    /// Sets the most bytes that may wait.
    pub fn max_bytes(mut self, max: usize) -> Self {
        self.max_bytes = max;
        self
    }
}

/// The queue itself: bounded by count and bytes; a send that does not fit is an error, never a
/// silent drop. It holds [`Outgoing`] messages unless told otherwise: the JavaScript API keeps
/// its messages on the JavaScript side and queues only their sizes.
#[derive(Debug, Clone)]
pub struct SendQueue<T = Outgoing> {
    options: QueueOptions,
    items: VecDeque<T>,
    bytes: usize,
}

// Not derived: a derive would ask for `T: Default`.
impl<T> Default for SendQueue<T> {
    fn default() -> Self {
        Self {
            options: QueueOptions::default(),
            items: VecDeque::new(),
            bytes: 0,
        }
    }
}

impl<T: Payload> SendQueue<T> {
    /// An empty queue with these bounds.
    pub fn new(options: QueueOptions) -> Self {
        Self {
            options,
            items: VecDeque::new(),
            bytes: 0,
        }
    }

    /// Queues a message, or refuses it if it would pass a bound.
    pub fn push(&mut self, message: T) -> Result<(), SendError> {
        let size = message.size();
        if self.items.len() >= self.options.max_messages
            || self.bytes.saturating_add(size) > self.options.max_bytes
        {
            return Err(SendError::QueueFull {
                messages: self.items.len(),
                bytes: self.bytes,
            });
        }
        self.bytes += size;
        self.items.push_back(message);
        Ok(())
    }

    /// Puts a message back at the front (one that could not be sent after all).
    pub fn push_front(&mut self, message: T) {
        self.bytes = self.bytes.saturating_add(message.size());
        self.items.push_front(message);
    }

    /// Takes the oldest message.
    pub fn pop(&mut self) -> Option<T> {
        let message = self.items.pop_front()?;
        self.bytes = self.bytes.saturating_sub(message.size());
        Some(message)
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Drops everything (the user closed the socket).
    pub fn clear(&mut self) -> usize {
        let n = self.items.len();
        self.items.clear();
        self.bytes = 0;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Outgoing {
        Outgoing::Text(s.to_owned())
    }

    #[test]
    fn keeps_order_and_counts_bytes() {
        let mut queue = SendQueue::new(QueueOptions::default());
        queue.push(text("a")).unwrap();
        queue.push(Outgoing::Binary(vec![1, 2])).unwrap();
        queue.push(text("ccc")).unwrap();
        assert_eq!((queue.len(), queue.bytes()), (3, 6));
        assert_eq!(queue.pop(), Some(text("a")));
        assert_eq!(queue.pop(), Some(Outgoing::Binary(vec![1, 2])));
        assert_eq!(queue.bytes(), 3);
    }

    #[test]
    fn refuses_past_the_count_bound() {
        let mut queue = SendQueue::new(QueueOptions::default().max_messages(2));
        queue.push(text("a")).unwrap();
        queue.push(text("b")).unwrap();
        assert_eq!(
            queue.push(text("c")),
            Err(SendError::QueueFull {
                messages: 2,
                bytes: 2
            })
        );
        assert_eq!(queue.len(), 2);
    }

    #[test]
    fn refuses_past_the_byte_bound() {
        let mut queue = SendQueue::new(QueueOptions::default().max_bytes(10));
        queue.push(text("12345678")).unwrap();
        assert!(queue.push(text("123")).is_err());
        queue.push(text("12")).unwrap();
        assert_eq!(queue.bytes(), 10);
    }

    #[test]
    fn zero_capacity_refuses_everything() {
        let mut queue = SendQueue::new(QueueOptions::default().max_messages(0));
        assert!(queue.push(text("a")).is_err());
    }

    #[test]
    fn push_front_and_clear() {
        let mut queue = SendQueue::new(QueueOptions::default());
        queue.push(text("b")).unwrap();
        queue.push_front(text("a"));
        assert_eq!(queue.pop(), Some(text("a")));
        assert_eq!(queue.clear(), 1);
        assert_eq!((queue.len(), queue.bytes()), (0, 0));
    }
}
