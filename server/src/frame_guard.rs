//! The frame-header rules tungstenite does not check, checked on the bytes as they arrive.

use std::{
    fmt, io,
    pin::Pin,
    task::{Context, Poll},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A client's frame broke a rule of RFC 6455's framing that tungstenite lets through: a payload
/// length in a longer encoding than needed ("the minimal number of bytes MUST be used", 5.2), or
/// a 64-bit length with its most significant bit set. The connection closes with 1002.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadLength;

impl fmt::Display for BadLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("frame length not in its minimal encoding")
    }
}

impl std::error::Error for BadLength {}

/// Follows the frames in a client's byte stream: reads each header, skips each payload, and
/// fails the read with [`BadLength`] (inside an `io::Error`) when a header breaks the rule.
///
/// It sits between the socket and tungstenite and costs 24 bytes per connection; it never
/// copies or holds payload bytes.
#[derive(Debug, Default, Clone)]
pub struct FrameScanner {
    // Of the header being read (at most 2 + 8 + 4 bytes): its second byte and its extended
    // length; the first byte and the mask are not needed.
    second: u8,
    extended: [u8; 8],
    // Header bytes read so far.
    have: u8,
    // Payload bytes of the current frame still to pass.
    skip: u64,
    // Once a header is refused the stream is not followed any more: what comes after it (the
    // client's close frame, say) cannot be framed from where the refused header stopped.
    refused: bool,
}

impl FrameScanner {
    /// A scanner at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next bytes of the stream.
    pub fn scan(&mut self, mut bytes: &[u8]) -> Result<(), BadLength> {
        if self.refused {
            return Err(BadLength);
        }
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = usize::try_from(self.skip)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                self.skip -= n as u64;
                bytes = &bytes[n..];
                continue;
            }
            let at = usize::from(self.have);
            match at {
                0 => {}
                1 => self.second = bytes[0],
                _ if at - 2 < extended_len(self.second) => self.extended[at - 2] = bytes[0],
                _ => {}
            }
            self.have += 1;
            bytes = &bytes[1..];
            if self.have >= 2 && self.have == header_len(self.second) {
                let len = payload_len(self.second, &self.extended);
                self.have = 0;
                self.skip = len.inspect_err(|_| self.refused = true)?;
            }
        }
        Ok(())
    }
}

/// The extended length's size, known from the header's second byte.
fn extended_len(second: u8) -> usize {
    match second & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    }
}

/// The whole header's length, known from its second byte.
fn header_len(second: u8) -> u8 {
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    2 + extended_len(second) as u8 + mask
}

/// The payload length a complete header declares, if it declares it minimally.
fn payload_len(second: u8, extended: &[u8; 8]) -> Result<u64, BadLength> {
    match second & 0x7F {
        126 => {
            let len = u64::from(u16::from_be_bytes([extended[0], extended[1]]));
            if len < 126 { Err(BadLength) } else { Ok(len) }
        }
        127 => {
            let len = u64::from_be_bytes(*extended);
            if len <= u64::from(u16::MAX) || len >> 63 != 0 {
                Err(BadLength)
            } else {
                Ok(len)
            }
        }
        short => Ok(u64::from(short)),
    }
}

/// A transport whose incoming bytes pass through a [`FrameScanner`]; writes pass untouched.
#[derive(Debug)]
pub struct FrameGuard<T> {
    inner: T,
    scanner: FrameScanner,
}

impl<T> FrameGuard<T> {
    /// Guards `inner`, which must be at the start of its frames (right after the upgrade).
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            scanner: FrameScanner::new(),
        }
    }
}

/// Whether a read error is the guard's [`BadLength`].
pub fn is_bad_length(err: &io::Error) -> bool {
    err.get_ref().is_some_and(|inner| inner.is::<BadLength>())
}

impl<T: AsyncRead + Unpin> AsyncRead for FrameGuard<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.scanner
                .scan(&buf.filled()[before..])
                .map_err(|bad| io::Error::new(io::ErrorKind::InvalidData, bad))?;
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for FrameGuard<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame with `len` payload bytes, its length in the given encoding.
    fn frame(len: usize, encoding: u8) -> Vec<u8> {
        let mut out = vec![0x81];
        match encoding {
            7 => out.push(0x80 | len as u8),
            16 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&[1, 2, 3, 4]);
        out.extend(std::iter::repeat_n(b'x', len));
        out
    }

    #[test]
    fn minimal_lengths_pass_in_any_split() {
        let stream: Vec<u8> = [
            frame(5, 7),
            frame(125, 7),
            frame(126, 16),
            frame(70_000, 64),
        ]
        .concat();
        for step in [1, 2, 3, 7, 100, stream.len()] {
            let mut scanner = FrameScanner::new();
            for chunk in stream.chunks(step) {
                scanner.scan(chunk).expect("minimal lengths");
            }
            assert_eq!((scanner.have, scanner.skip), (0, 0), "step {step}");
        }
    }

    #[test]
    fn longer_encodings_than_needed_are_refused() {
        for bad in [
            frame(5, 16),
            frame(125, 16),
            frame(5, 64),
            frame(65_535, 64),
        ] {
            assert_eq!(FrameScanner::new().scan(&bad), Err(BadLength));
        }
    }

    #[test]
    fn a_64_bit_length_with_the_top_bit_set_is_refused() {
        let mut header = vec![0x82, 0x80 | 127];
        header.extend_from_slice(&(1u64 << 63 | 70_000).to_be_bytes());
        header.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(FrameScanner::new().scan(&header), Err(BadLength));
    }

    #[test]
    fn an_error_in_the_stream_is_recognised() {
        let err = io::Error::new(io::ErrorKind::InvalidData, BadLength);
        assert!(is_bad_length(&err));
        assert!(!is_bad_length(&io::Error::other("other")));
    }
}
