//! The PROXY protocol header a load balancer sends ahead of each connection (`--proxy-protocol`):
//! who the client really is, so that per-address limits apply to clients, not to the balancer.

use ppp::{
    HeaderResult, PartialResult,
    v1::{self, Addresses as V1},
    v2::{self, Addresses as V2},
};
use std::{
    io,
    net::{IpAddr, SocketAddr},
};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The longest version 1 header (the spec's 107 bytes).
const MAX_V1: usize = 107;

/// The first bytes of a version 2 header.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// The most address and TLV bytes a version 2 header may announce here: addresses (at most
/// 216, for UNIX sockets) and the TLVs a balancer adds (HAProxy's are a few dozen bytes).
const MAX_V2_BODY: usize = 512;

/// Reads a PROXY protocol header (version 1 or 2) from the start of `stream`, taking exactly its
/// bytes, and returns the client's address: the header's source, or `peer` for a connection
/// the balancer makes for itself (`LOCAL`, `UNKNOWN`: its health checks).
pub async fn read<S: AsyncRead + Unpin>(
    stream: &mut S,
    peer: SocketAddr,
) -> io::Result<SocketAddr> {
    let mut header = vec![0u8; 8];
    stream.read_exact(&mut header).await?;
    if header.starts_with(&V2_SIGNATURE[..8]) {
        header.resize(16, 0);
        stream.read_exact(&mut header[8..]).await?;
        let body = usize::from(u16::from_be_bytes([header[14], header[15]]));
        if body > MAX_V2_BODY {
            return Err(invalid("a PROXY header longer than allowed"));
        }
        header.resize(16 + body, 0);
        stream.read_exact(&mut header[16..]).await?;
    } else if header.starts_with(b"PROXY ") {
        // Text: up to the line's end, a byte at a time, so nothing after it is taken.
        while !header.ends_with(b"\r\n") {
            if header.len() >= MAX_V1 {
                return Err(invalid("a PROXY line longer than allowed"));
            }
            let mut byte = [0u8];
            stream.read_exact(&mut byte).await?;
            header.push(byte[0]);
        }
    } else {
        return Err(invalid("no PROXY header"));
    }
    source(&header, peer)
}

/// The client's address in a complete header.
fn source(header: &[u8], peer: SocketAddr) -> io::Result<SocketAddr> {
    let parsed = HeaderResult::parse(header);
    if parsed.is_incomplete() {
        return Err(invalid("an incomplete PROXY header"));
    }
    let address = match parsed {
        HeaderResult::V1(Ok(v1::Header { addresses, .. })) => match addresses {
            V1::Tcp4(a) => Some(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port)),
            V1::Tcp6(a) => Some(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port)),
            V1::Unknown => None,
        },
        HeaderResult::V2(Ok(header)) => match (header.command, header.addresses) {
            (v2::Command::Local, _) => None,
            (_, V2::IPv4(a)) => Some(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port)),
            (_, V2::IPv6(a)) => Some(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port)),
            (_, V2::Unspecified | V2::Unix(_)) => None,
        },
        HeaderResult::V1(Err(_)) | HeaderResult::V2(Err(_)) => {
            return Err(invalid("a malformed PROXY header"));
        }
    };
    Ok(address.unwrap_or(peer))
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "10.0.0.1:40000".parse().expect("an address")
    }

    async fn read_all(bytes: &[u8]) -> (io::Result<SocketAddr>, Vec<u8>) {
        let mut stream = bytes;
        let address = read(&mut stream, peer()).await;
        (address, stream.to_vec())
    }

    #[tokio::test]
    async fn a_text_header_gives_the_client_and_leaves_the_request() {
        let (address, rest) =
            read_all(b"PROXY TCP4 203.0.113.7 10.0.0.2 51000 8080\r\nGET / HTTP/1.1\r\n").await;
        assert_eq!(
            address.expect("read"),
            "203.0.113.7:51000".parse().expect("an address")
        );
        assert_eq!(rest, b"GET / HTTP/1.1\r\n");
        let (address, rest) = read_all(b"PROXY UNKNOWN\r\nG").await;
        assert_eq!(address.expect("read"), peer(), "the balancer's own");
        assert_eq!(rest, b"G");
        let (address, _) = read_all(b"PROXY TCP6 2001:db8::1 2001:db8::2 51000 8080\r\n").await;
        assert_eq!(
            address.expect("read"),
            "[2001:db8::1]:51000".parse().expect("an address")
        );
    }

    #[tokio::test]
    async fn a_binary_header_gives_the_client_and_leaves_the_request() {
        let mut bytes = V2_SIGNATURE.to_vec();
        bytes.extend([
            0x21, 0x11, 0, 12, 203, 0, 113, 7, 10, 0, 0, 2, 0xC7, 0x38, 0x1F, 0x90,
        ]);
        bytes.extend(b"GET /");
        let (address, rest) = read_all(&bytes).await;
        assert_eq!(
            address.expect("read"),
            "203.0.113.7:51000".parse().expect("an address")
        );
        assert_eq!(rest, b"GET /");
        // LOCAL: the balancer's health check.
        let mut local = V2_SIGNATURE.to_vec();
        local.extend([0x20, 0x00, 0, 0]);
        assert_eq!(read_all(&local).await.0.expect("read"), peer());
    }

    #[tokio::test]
    async fn anything_else_is_refused() {
        for bad in [
            &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"PROXY TCP4 not-an-address 10.0.0.2 1 2\r\n",
            b"PROXY TCP4 203.0.113.7 10.0.0.2 51000",
            &[
                b'P', b'R', b'O', b'X', b'Y', b' ', b'T', b'C', b'P', b'4', b' ',
            ][..],
        ] {
            assert!(
                read_all(bad).await.0.is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = [b"PROXY ".to_vec(), vec![b'1'; 200]].concat();
        assert!(read_all(&long).await.0.is_err());
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend([0x21, 0x11, 0xFF, 0xFF]);
        assert!(read_all(&huge).await.0.is_err());
    }
}
