//! Behind a load balancer (`--proxy-protocol`): each connection's PROXY header says who the
//! client is, and the per-address limits apply to that client, not to the balancer.

mod common;

use common::{Client, TestServer, config};
use std::time::Duration;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

/// A version 2 header for a TCP4 client at `203.0.113.<last>`:51000.
fn header_v2(last: u8) -> Vec<u8> {
    let mut bytes = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    bytes.extend([
        0x21, 0x11, 0, 12, 203, 0, 113, last, 127, 0, 0, 1, 0xC7, 0x38, 0x1F, 0x90,
    ]);
    bytes
}

/// Opens a WebSocket through `header`; the handshake's status.
async fn open(server: &TestServer, header: &[u8]) -> Result<Client, u16> {
    let mut tcp = TcpStream::connect(server.addr()).await.expect("connects");
    tcp.write_all(header).await.expect("writes the header");
    let request = server.ws_url("").into_client_request().expect("a request");
    let tcp = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
    match tokio_tungstenite::client_async(request, tcp).await {
        Ok((ws, _)) => Ok(Client::accept(ws).await),
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(err) => panic!("handshake failed below HTTP: {err}"),
    }
}

#[tokio::test]
async fn the_limits_apply_to_the_client_the_header_names() {
    let server = TestServer::with(config().proxy_protocol(true).max_connections_per_ip(2)).await;
    let first = open(&server, &header_v2(7))
        .await
        .expect("the first from .7");
    let second = open(&server, &header_v2(7))
        .await
        .expect("the second from .7");
    assert_eq!(
        open(&server, &header_v2(7)).await.err(),
        Some(429),
        "a third from .7"
    );
    // Everything comes from 127.0.0.1 here, yet another client is let in.
    let mut other = open(&server, b"PROXY TCP4 203.0.113.8 127.0.0.1 51000 8080\r\n")
        .await
        .expect("one from .8, in text");
    other.join("r").await;
    drop((first, second));
}

#[tokio::test]
async fn a_connection_without_a_header_is_closed() {
    let server = TestServer::with(config().proxy_protocol(true)).await;
    let mut tcp = TcpStream::connect(server.addr()).await.expect("connects");
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("writes");
    let mut answer = Vec::new();
    let read = timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "closed, not left open");
    assert!(
        answer.is_empty(),
        "no answer: {}",
        String::from_utf8_lossy(&answer)
    );
    // The balancer's own health check (LOCAL) is served.
    let mut tcp = TcpStream::connect(server.addr()).await.expect("connects");
    let mut local = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    local.extend([0x20, 0x00, 0, 0]);
    local.extend(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    tcp.write_all(&local).await.expect("writes");
    let mut answer = Vec::new();
    timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer))
        .await
        .expect("answered")
        .expect("read");
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}
