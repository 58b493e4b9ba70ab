//! A fuzzer's input as what a client sends after the upgrade.
//!
//! A client's frames are masked, and masking scrambles the payload, so a byte-level fuzzer would
//! rarely get a JSON message through. The first byte of an input picks one of two forms:
//!
//! - raw (bit 0 clear): the rest is sent as it is. Seeds mask with the key `0 0 0 0`, which
//!   leaves the payload readable (and mutable) in the input.
//! - frames (bit 0 set): the rest is a list of frames separated by `0xFF` (a byte no UTF-8 text
//!   holds); each frame's first byte is its first header byte (FIN, RSV, opcode), the rest its
//!   payload. Each goes out masked with the key `0 0 0 0`, its length encoded minimally.
//!
//! Bits 1 and 2 pick how many bytes the server can read at once (see [`READ_SIZES`]), so that
//! frames arrive split at every kind of place.

/// The pipe's capacity, which is also the most the server reads at once, by bits 1-2 of the
/// first byte.
pub const READ_SIZES: [usize; 4] = [4096, 1, 7, 64];

/// What a client sends after the upgrade, and in what pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireInput {
    /// The bytes, as they go on the wire.
    pub bytes: Vec<u8>,
    /// The most bytes the server can read at once.
    pub read_size: usize,
}

impl WireInput {
    /// Reads a fuzzer's input.
    pub fn new(data: &[u8]) -> Self {
        let Some((&first, rest)) = data.split_first() else {
            return Self {
                bytes: Vec::new(),
                read_size: READ_SIZES[0],
            };
        };
        let read_size = READ_SIZES[usize::from(first >> 1) & 3];
        let bytes = if first & 1 == 0 {
            rest.to_vec()
        } else {
            rest.split(|&b| b == 0xFF)
                .filter_map(|frame| frame.split_first())
                .flat_map(|(&head, payload)| masked_frame(head, payload))
                .collect()
        };
        Self { bytes, read_size }
    }
}

/// One client frame: `head` as the first byte, the mask bit set, the length in its minimal
/// encoding, the key `0 0 0 0` (so the payload goes out as it is).
pub fn masked_frame(head: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(head);
    match payload.len() {
        len @ 0..=125 => out.push(0x80 | len as u8),
        len @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(payload);
    out
}
