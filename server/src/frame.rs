//! Encoded outgoing messages.

use axum::extract::ws::Utf8Bytes;
use tether_protocol::ServerMessage;

/// A message encoded once, ready to be written to any number of clients: cloning it clones a
/// reference-counted buffer, not the text.
#[derive(Debug, Clone)]
pub struct Frame {
    text: Utf8Bytes,
    droppable: bool,
}

impl Frame {
    /// Encodes a server message as JSON.
    pub fn encode(message: &ServerMessage) -> Self {
        // Serialization cannot fail: every payload is a plain struct of strings and numbers.
        let json = serde_json::to_string(message).expect("server messages always serialize");
        Self {
            text: json.into(),
            droppable: false,
        }
    }

    /// A frame carrying raw text rather than JSON (the guide's `pong`).
    pub fn raw(text: &'static str) -> Self {
        Self {
            text: Utf8Bytes::from_static(text),
            droppable: false,
        }
    }

    /// Marks the frame as one a slow client may miss (typing notices): the outbox drops it first
    /// when it fills up.
    pub fn droppable(mut self) -> Self {
        self.droppable = true;
        self
    }

    /// Whether the outbox may drop this frame under pressure.
    pub fn is_droppable(&self) -> bool {
        self.droppable
    }

    /// The encoded size in bytes.
    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// Whether the frame is empty (never, for encoded messages).
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// A reference-counted copy of the text, for writing while keeping the frame.
    pub fn text(&self) -> Utf8Bytes {
        self.text.clone()
    }

    /// The text, for reading.
    pub fn as_str(&self) -> &str {
        self.text.as_str()
    }
}
