//! Where the generator connects, and from which loopback addresses.

use crate::{BenchSocket, Dialect};
use anyhow::{Context, Result, ensure};
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, protocol::WebSocketConfig};

/// How many loopback source addresses connections are spread over by default: eight addresses
/// give about 8 × 28,000 ephemeral ports, far more than one process may open files.
const DEFAULT_SOURCES: u8 = 8;

/// A server's WebSocket URL on loopback, the protocol it speaks, and the loopback source
/// addresses connections come from (127.0.0.1 to 127.0.0.8 by default), so that client ports
/// never run out.
#[derive(Debug, Clone)]
pub struct Endpoint {
    url: Arc<str>,
    server: SocketAddr,
    sources: Arc<[IpAddr]>,
    dialect: Dialect,
}

impl Endpoint {
    /// Checks that `url` is a `ws://` URL on a loopback IP address: the generator never sends
    /// traffic anywhere else.
    pub fn new(url: &str, dialect: Dialect) -> Result<Self> {
        let request = url
            .into_client_request()
            .with_context(|| format!("bad URL {url}"))?;
        let uri = request.uri();
        ensure!(
            uri.scheme_str() == Some("ws"),
            "only ws:// URLs are supported, got {url}"
        );
        let host = uri.host().context("the URL has no host")?;
        let ip: IpAddr = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .with_context(|| format!("the URL's host must be a loopback IP address, not {host}"))?;
        ensure!(ip.is_loopback(), "{ip} is not a loopback address");
        let sources: Vec<IpAddr> = match ip {
            IpAddr::V4(_) => (1..=DEFAULT_SOURCES)
                .map(|last| IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
                .collect(),
            IpAddr::V6(_) => vec![IpAddr::V6(Ipv6Addr::LOCALHOST)],
        };
        Ok(Self {
            url: url.into(),
            server: SocketAddr::new(ip, uri.port_u16().unwrap_or(80)),
            sources: sources.into(),
            dialect,
        })
    }

    /// Connects from these loopback addresses instead, round-robin.
    pub fn sources(mut self, sources: Vec<IpAddr>) -> Result<Self> {
        ensure!(!sources.is_empty(), "no source addresses");
        for source in &sources {
            ensure!(
                source.is_loopback() && source.is_ipv4() == self.server.is_ipv4(),
                "source {source} is not a loopback address of the server's family"
            );
        }
        self.sources = sources.into();
        Ok(self)
    }

    /// The WebSocket URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's address: where its `/metrics` is, and where raw connections go.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// The protocol the server speaks.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Opens connection number `index` from its source address, completes the WebSocket and the
    /// protocol handshakes, and returns the connection ready to join rooms.
    ///
    /// `read_buffer` is tungstenite's read buffer: small for thousands of idle connections, larger
    /// for the fan-out's receivers, which read many frames per batch.
    pub async fn connect(&self, index: usize, read_buffer: usize) -> Result<BenchSocket> {
        let mut socket = self.open(index, read_buffer, None).await?;
        socket.handshake().await?;
        Ok(socket)
    }

    /// Opens connection number `index` as [`connect`](Self::connect) does, with `query` (such as
    /// `resume=<token>`) added to the URL's query string, and stops after the WebSocket
    /// handshake: the protocol's own greeting is left to the caller.
    pub async fn open(
        &self,
        index: usize,
        read_buffer: usize,
        query: Option<&str>,
    ) -> Result<BenchSocket> {
        let url = match query {
            None => self.url.to_string(),
            Some(query) if self.url.contains('?') => format!("{}&{query}", self.url),
            Some(query) => format!("{}?{query}", self.url),
        };
        let source = self.sources[index % self.sources.len()];
        let socket = match source {
            IpAddr::V4(_) => TcpSocket::new_v4(),
            IpAddr::V6(_) => TcpSocket::new_v6(),
        }?;
        socket
            .bind(SocketAddr::new(source, 0))
            .with_context(|| format!("binding to {source}"))?;
        let stream = socket
            .connect(self.server)
            .await
            .with_context(|| format!("connecting to {} from {source}", self.server))?;
        stream.set_nodelay(true)?;
        let config = WebSocketConfig::default()
            .read_buffer_size(read_buffer)
            .write_buffer_size(0);
        let (ws, _response) =
            tokio_tungstenite::client_async_with_config(url, stream, Some(config))
                .await
                .context("WebSocket handshake")?;
        Ok(BenchSocket::new(ws, self.dialect))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_ws_urls_are_accepted() {
        assert!(Endpoint::new("ws://127.0.0.1:8080/ws", Dialect::Guide).is_ok());
        assert!(Endpoint::new("ws://[::1]:8080/ws", Dialect::Guide).is_ok());
        assert!(Endpoint::new("ws://10.0.0.1:8080/ws", Dialect::Guide).is_err());
        assert!(Endpoint::new("ws://example.com/ws", Dialect::Guide).is_err());
        assert!(Endpoint::new("wss://127.0.0.1/ws", Dialect::Guide).is_err());
    }

    #[test]
    fn sources_must_be_loopback_of_the_same_family() {
        let endpoint = Endpoint::new("ws://127.0.0.1:1/ws", Dialect::Guide).expect("valid");
        assert_eq!(endpoint.sources.len(), 8);
        assert!(
            endpoint
                .clone()
                .sources(vec!["192.168.0.1".parse().expect("ip")])
                .is_err()
        );
        assert!(
            endpoint
                .clone()
                .sources(vec!["::1".parse().expect("ip")])
                .is_err()
        );
        assert!(
            endpoint
                .sources(vec!["127.0.0.9".parse().expect("ip")])
                .is_ok()
        );
    }
}
