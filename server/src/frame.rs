//! Encoded outgoing messages: whole WebSocket frames, built once and shared by every recipient.

use bytes::{BufMut, Bytes, BytesMut};
use tether_protocol::ServerMessage;

/// The first header byte of every frame the server writes: FIN, text opcode.
const FIN_TEXT: u8 = 0x81;

/// A server message encoded once as a complete WebSocket text frame (header and JSON payload),
/// ready to be written to any number of clients as is: cloning it clones a reference-counted
/// buffer, not the bytes. Server frames are never masked (RFC 6455, section 5.1), so the same
/// bytes are valid on every connection.
#[derive(Debug, Clone)]
pub struct Frame {
    wire: Bytes,
    // Where the payload starts in `wire`: 2, 4 or 10.
    header_len: u8,
    droppable: bool,
    // The room message's position in its room's history; 0 for anything else.
    seq: u64,
}

impl Frame {
    /// Encodes a server message as JSON.
    pub fn encode(message: &ServerMessage) -> Self {
        // Serialization cannot fail: every payload is a plain struct of strings and numbers.
        let json = serde_json::to_vec(message).expect("server messages always serialize");
        Self::text(&json)
    }

    /// A server message another node encoded (its JSON as it was put on the backplane).
    pub fn from_json(json: &str) -> Self {
        Self::text(json.as_bytes())
    }

    /// A frame carrying raw text rather than JSON (the guide's `pong`).
    pub fn raw(text: &'static str) -> Self {
        Self::text(text.as_bytes())
    }

    /// Frames `payload`, which must be UTF-8, as one text frame.
    fn text(payload: &[u8]) -> Self {
        let len = payload.len();
        let mut wire = BytesMut::with_capacity(len + 10);
        wire.put_u8(FIN_TEXT);
        // The payload length in the shortest of the three encodings (RFC 6455, section 5.2).
        if len < 126 {
            wire.put_u8(len as u8);
        } else if let Ok(len) = u16::try_from(len) {
            wire.put_u8(126);
            wire.put_u16(len);
        } else {
            wire.put_u8(127);
            wire.put_u64(len as u64);
        }
        let header_len = wire.len() as u8;
        wire.extend_from_slice(payload);
        Self {
            wire: wire.freeze(),
            header_len,
            droppable: false,
            seq: 0,
        }
    }

    /// Marks the frame as one a slow client may miss (typing notices): the outbox drops it first
    /// when it fills up.
    pub fn droppable(mut self) -> Self {
        self.droppable = true;
        self
    }

    /// Marks the frame as the room message at `seq` (at least 1), so that rooms deliver a room's
    /// messages once each, in order.
    pub fn with_seq(mut self, seq: u64) -> Self {
        self.seq = seq;
        self
    }

    /// The room message's `seq`, if the frame is one.
    pub fn seq(&self) -> Option<u64> {
        (self.seq != 0).then_some(self.seq)
    }

    /// Whether the outbox may drop this frame under pressure.
    pub fn is_droppable(&self) -> bool {
        self.droppable
    }

    /// The payload's size in bytes.
    pub fn len(&self) -> usize {
        self.wire.len() - usize::from(self.header_len)
    }

    /// Whether the payload is empty (never, for encoded messages).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole frame as it goes on the wire, header included.
    pub fn wire(&self) -> &Bytes {
        &self.wire
    }

    /// The payload text.
    pub fn as_str(&self) -> &str {
        // Every frame is built from a `&str` or from serde_json's output, both UTF-8.
        std::str::from_utf8(&self.wire[usize::from(self.header_len)..]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::frame::{FrameHeader, coding::OpCode};

    /// Parses `frame`'s wire bytes with tungstenite, as a client would.
    fn parse(frame: &Frame) -> (FrameHeader, usize) {
        let mut cursor = std::io::Cursor::new(frame.wire().to_vec());
        let (header, len) = FrameHeader::parse(&mut cursor)
            .expect("valid header")
            .expect("complete header");
        assert_eq!(
            cursor.position() as usize,
            frame.wire().len() - len as usize
        );
        (header, len as usize)
    }

    #[test]
    fn frames_are_final_unmasked_text_in_each_length_encoding() {
        for len in [0, 1, 125, 126, 65_535, 65_536, 200_000] {
            let text: &'static str = Box::leak("x".repeat(len).into_boxed_str());
            let frame = Frame::raw(text);
            let (header, payload) = parse(&frame);
            assert!(header.is_final);
            assert_eq!(
                header.opcode,
                OpCode::Data(tungstenite::protocol::frame::coding::Data::Text)
            );
            assert!(header.mask.is_none());
            assert_eq!(payload, len);
            assert_eq!(frame.len(), len);
            assert_eq!(frame.as_str(), text);
        }
    }

    #[test]
    fn encode_frames_the_json() {
        let frame = Frame::encode(&ServerMessage::Error(tether_protocol::ErrorPayload {
            message: "no".into(),
            code: None,
            retry_after_ms: None,
        }));
        assert_eq!(
            frame.as_str(),
            r#"{"type":"error","payload":{"message":"no"}}"#
        );
        assert_eq!(parse(&frame).1, frame.len());
    }

    #[test]
    fn clones_share_the_bytes() {
        let frame = Frame::raw("shared");
        let clone = frame.clone();
        assert_eq!(frame.wire().as_ptr(), clone.wire().as_ptr());
    }
}
