//! The frames a server connection wrote, parsed and held to RFC 6455 and the protocol.

use tether_protocol::{RAW_PONG, ServerMessage};

/// One frame the server sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFrame {
    /// The opcode: 1 text, 2 binary, 8 close, 9 ping, 10 pong (0, continuation, is refused).
    pub opcode: u8,
    /// The payload (servers do not mask).
    pub payload: Vec<u8>,
}

impl ServerFrame {
    /// A close frame's status code, if it carries one.
    pub fn close_code(&self) -> Option<u16> {
        match (self.opcode, self.payload.as_slice()) {
            (8, [high, low, ..]) => Some(u16::from_be_bytes([*high, *low])),
            _ => None,
        }
    }
}

/// Parses everything the server wrote on one connection. Every frame must be whole (the server
/// finishes a frame it has begun, even when it gives up on a client), unmasked, final (the
/// server never fragments), with no reserved bit and its length in the minimal encoding;
/// control frames carry at most 125 bytes; text frames are `pong` or a JSON message of the
/// protocol; a close frame comes last, if at all, with a code.
pub fn parse(mut output: &[u8]) -> Result<Vec<ServerFrame>, String> {
    let mut frames: Vec<ServerFrame> = Vec::new();
    while !output.is_empty() {
        if frames.last().is_some_and(|frame| frame.opcode == 8) {
            return Err(format!(
                "{} bytes after the close frame: {:?}",
                output.len(),
                output
            ));
        }
        let [first, second, ..] = *output else {
            return Err(format!("a cut header at the end: {output:?}"));
        };
        if first & 0x80 == 0 {
            return Err(format!("a fragmented frame (header {first:#04x})"));
        }
        if first & 0x70 != 0 {
            return Err(format!("a reserved bit set (header {first:#04x})"));
        }
        if second & 0x80 != 0 {
            return Err("a masked frame from the server".into());
        }
        let opcode = first & 0x0F;
        let (header, len): (usize, usize) = match second & 0x7F {
            126 => {
                let bytes = output.get(2..4).ok_or("a cut 16-bit length")?;
                let len = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
                if len < 126 {
                    return Err(format!("length {len} in the 16-bit encoding"));
                }
                (4, len)
            }
            127 => {
                let bytes = output.get(2..10).ok_or("a cut 64-bit length")?;
                let len = u64::from_be_bytes(bytes.try_into().expect("8 bytes"));
                if len <= u64::from(u16::MAX) || len >> 63 != 0 {
                    return Err(format!("length {len} in the 64-bit encoding"));
                }
                (10, usize::try_from(len).map_err(|_| "a huge length")?)
            }
            short => (2, usize::from(short)),
        };
        let payload = output
            .get(header..header.saturating_add(len))
            .ok_or_else(|| {
                format!(
                    "a frame cut short: {len} bytes declared, {} sent",
                    output.len() - header
                )
            })?
            .to_vec();
        output = &output[header + len..];
        match opcode {
            1 => check_text(&payload)?,
            8 => {
                if payload.len() == 1 || payload.len() > 125 {
                    return Err(format!("a close frame of {} bytes", payload.len()));
                }
                if std::str::from_utf8(payload.get(2..).unwrap_or_default()).is_err() {
                    return Err("a close reason that is not UTF-8".into());
                }
            }
            9 | 10 if payload.len() <= 125 => {}
            9 | 10 => return Err(format!("a control frame of {} bytes", payload.len())),
            other => return Err(format!("opcode {other} from the server")),
        }
        frames.push(ServerFrame { opcode, payload });
    }
    Ok(frames)
}

/// A text frame holds `pong` (the answer to the guide's bare `ping`) or one protocol message.
fn check_text(payload: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(payload).map_err(|_| "a text frame that is not UTF-8")?;
    if text == RAW_PONG {
        return Ok(());
    }
    serde_json::from_str::<ServerMessage>(text)
        .map(drop)
        .map_err(|err| format!("a text frame that is not a server message ({err}): {text}"))
}
