//! A TCP connection that writes HTTP and WebSocket bytes by hand: what an attacker sends, which
//! no client library would.

use anyhow::{Context, Result, bail};
use std::net::{IpAddr, SocketAddr};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

/// The WebSocket key of RFC 6455's example: any 16 bytes in base64 will do.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The most bytes of a response head read before giving up on it.
const MAX_HEAD: usize = 16 * 1024;

/// A raw TCP connection to a server under test, from a chosen loopback address.
#[derive(Debug)]
pub struct RawClient {
    stream: TcpStream,
}

impl RawClient {
    /// Connects to `server` from `source` (port chosen by the kernel). With `receive_buffer`, the
    /// socket's `SO_RCVBUF` is set first, so that a client that never reads stops the server's
    /// writes after a few bytes instead of the kernel's default megabytes.
    pub async fn connect(
        server: SocketAddr,
        source: IpAddr,
        receive_buffer: Option<u32>,
    ) -> Result<Self> {
        let socket = match source {
            IpAddr::V4(_) => TcpSocket::new_v4(),
            IpAddr::V6(_) => TcpSocket::new_v6(),
        }?;
        if let Some(size) = receive_buffer {
            socket.set_recv_buffer_size(size).context("SO_RCVBUF")?;
        }
        socket
            .bind(SocketAddr::new(source, 0))
            .with_context(|| format!("binding to {source}"))?;
        let stream = socket
            .connect(server)
            .await
            .with_context(|| format!("connecting to {server} from {source}"))?;
        stream.set_nodelay(true)?;
        Ok(Self { stream })
    }

    /// Sends a WebSocket upgrade for `/ws` and reads the answer's head; fails unless it is 101.
    /// Nothing past the head is read: Tether's greeting stays in the socket for whoever reads.
    pub async fn upgrade(&mut self, host: SocketAddr) -> Result<()> {
        let request = upgrade_request(host, "");
        self.stream.write_all(request.as_bytes()).await?;
        // Byte by byte, so that nothing after the head is taken from the socket.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() >= MAX_HEAD || self.stream.read(&mut byte).await? == 0 {
                bail!("no complete answer to the upgrade");
            }
            head.push(byte[0]);
        }
        match http_status(&head) {
            Some(101) => Ok(()),
            status => bail!("the upgrade was answered {status:?}"),
        }
    }

    /// The connection itself, to write and read as an attack needs.
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Gives the connection up, to split it.
    pub fn into_stream(self) -> TcpStream {
        self.stream
    }
}

/// A WebSocket upgrade request for `/ws` with `extra` header lines (each ending in CRLF).
pub fn upgrade_request(host: SocketAddr, extra: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// The status code of an HTTP/1.x response that starts `bytes`, once its status line is
/// complete.
pub fn http_status(bytes: &[u8]) -> Option<u16> {
    let line_end = bytes.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&bytes[..line_end]).ok()?;
    let mut fields = line.split(' ');
    fields.next().filter(|v| v.starts_with("HTTP/1."))?;
    fields.next()?.parse().ok()
}

/// A client's (masked) WebSocket frame: FIN set, `opcode`, `payload` under `mask`.
pub fn masked_frame(opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut frame = vec![0x80 | (opcode & 0x0f)];
    match payload.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len @ 126..=0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    frame
}

/// The WebSocket ping opcode.
pub const PING: u8 = 0x9;

/// The close code of the first close frame in `bytes`, a stream of the server's (unmasked) frames
/// read from the start of the connection's WebSocket part; `None` when there is none, or the
/// stream is cut before it. A close frame without a code gives 1005, as RFC 6455 says.
pub fn close_code(mut bytes: &[u8]) -> Option<u16> {
    loop {
        let (opcode, payload, rest) = split_frame(bytes)?;
        if opcode == 0x8 {
            return Some(match payload {
                [a, b, ..] => u16::from_be_bytes([*a, *b]),
                _ => 1005,
            });
        }
        bytes = rest;
    }
}

/// The first frame of `bytes`: its opcode, its payload and what follows it.
fn split_frame(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let [first, second, rest @ ..] = bytes else {
        return None;
    };
    let opcode = first & 0x0f;
    let masked = second & 0x80 != 0;
    let (len, rest) = match second & 0x7f {
        126 => {
            let (len, rest) = rest.split_first_chunk::<2>()?;
            (u64::from(u16::from_be_bytes(*len)), rest)
        }
        127 => {
            let (len, rest) = rest.split_first_chunk::<8>()?;
            (u64::from_be_bytes(*len), rest)
        }
        len => (u64::from(len), rest),
    };
    let rest = if masked { rest.get(4..)? } else { rest };
    let len = usize::try_from(len).ok()?;
    let payload = rest.get(..len)?;
    Some((opcode, payload, &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_masked_ping_is_framed_as_rfc_6455_says() {
        let frame = masked_frame(PING, &[b'p'; 125], [1, 2, 3, 4]);
        assert_eq!(frame.len(), 2 + 4 + 125);
        assert_eq!(&frame[..6], &[0x89, 0x80 | 125, 1, 2, 3, 4]);
        assert_eq!(frame[6], b'p' ^ 1);
        assert_eq!(frame[7], b'p' ^ 2);
        let long = masked_frame(0x1, &[0; 300], [0; 4]);
        assert_eq!(&long[..4], &[0x81, 0x80 | 126, 1, 44]);
    }

    #[test]
    fn the_close_code_is_found_after_pongs() {
        let mut stream = vec![0x8a, 3, b'a', b'b', b'c'];
        stream.extend_from_slice(&[0x8a, 0]);
        stream.extend_from_slice(&[0x88, 4, 0x03, 0xf0, b'h', b'i']);
        assert_eq!(close_code(&stream), Some(1008));
        assert_eq!(close_code(&stream[..stream.len() - 3]), None, "cut short");
        assert_eq!(close_code(&[0x88, 0]), Some(1005));
        assert_eq!(close_code(&[0x8a, 126, 0, 200]), None);
    }

    #[test]
    fn the_status_comes_from_a_complete_status_line() {
        assert_eq!(
            http_status(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            Some(431)
        );
        assert_eq!(
            http_status(b"HTTP/1.1 101 Switching Protocols\r\n\r\n"),
            Some(101)
        );
        assert_eq!(http_status(b"HTTP/1.1 429 Too Many"), None, "not complete");
        assert_eq!(http_status(b"SSH-2.0 x\r\n"), None);
    }
}
