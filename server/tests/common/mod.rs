//! The harness every integration test shares: a real server on a port-0 listener, real WebSocket
//! clients (tokio-tungstenite), raw HTTP/1.1 for the plain routes, and a bound on every wait.
//!
//! Nothing here sleeps to let the server "settle": waits are polls or reads with a deadline, and
//! a missed deadline is a test failure that names what it was waiting for.

// Each test binary uses its own part of the harness.
#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::{
    future::Future,
    io,
    net::SocketAddr,
    time::{Duration, Instant},
};
use tether_protocol::{ClientFrame, ClientMessage, JoinRoom, SendText};
use tether_server::{Config, config::StoreKind};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpSocket, TcpStream},
    sync::oneshot,
    task::JoinHandle,
    time::timeout,
};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{self, Message, client::IntoClientRequest, http, protocol::frame::coding},
};

/// The longest any single wait may take before the test fails. Generous, because other builds
/// may share the machine; a passing test never comes near it.
pub(crate) const WAIT: Duration = Duration::from_secs(5);

pub(crate) mod redis;

/// A TCP port free on 127.0.0.1 now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A WebSocket client connection.
pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The configuration tests start from: the defaults, history in memory (the history tests use
/// SQLite in a temporary folder), a disconnect seen by the room at once (the grace for coming
/// back is tested on its own), no built app, and a short shutdown grace.
pub(crate) fn config() -> Config {
    Config::default()
        .store(StoreKind::Memory)
        .rejoin_grace(Duration::ZERO)
        // Tests open hundreds of connections from 127.0.0.1 at once; the address's connection
        // rate is tested on its own (hardening.rs).
        .address_connect_rate(0)
        .static_dir("/nonexistent/tether-test-dist")
        .shutdown_grace(Duration::from_secs(2))
}

/// A running server. Dropping it starts its shutdown.
#[derive(Debug)]
pub(crate) struct TestServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl TestServer {
    /// Starts a server with [`config`].
    pub(crate) async fn start() -> Self {
        Self::with(config()).await
    }

    /// Starts a server with this configuration on 127.0.0.1, port 0.
    pub(crate) async fn with(config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let addr = listener.local_addr().expect("local address");
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(tether_server::run(listener, config, async move {
            let _ = signal.await;
        }));
        Self {
            addr,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The WebSocket URL, with `query` (without `?`) appended when not empty.
    pub(crate) fn ws_url(&self, query: &str) -> String {
        if query.is_empty() {
            format!("ws://{}/ws", self.addr)
        } else {
            format!("ws://{}/ws?{query}", self.addr)
        }
    }

    /// Opens a WebSocket and reads its `connected`.
    pub(crate) async fn connect(&self) -> Client {
        Client::accept(self.open("").await).await
    }

    /// Opens a WebSocket (with `query` on the URL) without reading anything.
    pub(crate) async fn open(&self, query: &str) -> Ws {
        let (ws, response) = timeout(WAIT, tokio_tungstenite::connect_async(self.ws_url(query)))
            .await
            .expect("WebSocket handshake timed out")
            .expect("WebSocket handshake failed");
        assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
        ws
    }

    /// Attempts a handshake with extra request headers; returns the HTTP status the server
    /// answered with (101 when upgraded).
    pub(crate) async fn handshake_status(&self, headers: &[(&str, &str)]) -> u16 {
        let mut request = self
            .ws_url("")
            .into_client_request()
            .expect("a valid request");
        for (name, value) in headers {
            request.headers_mut().insert(
                http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                http::HeaderValue::from_str(value).expect("header value"),
            );
        }
        match timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .expect("WebSocket handshake timed out")
        {
            Ok((_, response)) => response.status().as_u16(),
            Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
            Err(err) => panic!("handshake failed below HTTP: {err}"),
        }
    }

    /// Opens a WebSocket over a socket whose receive buffer is as small as the kernel allows, so
    /// that a client that stops reading backs the server up quickly. Reads `connected`.
    pub(crate) async fn connect_small_buffer(&self) -> Client {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(1024).expect("SO_RCVBUF");
        let stream = timeout(WAIT, socket.connect(self.addr))
            .await
            .expect("connect timed out")
            .expect("connect");
        let (ws, _) = timeout(
            WAIT,
            tokio_tungstenite::client_async(self.ws_url(""), MaybeTlsStream::Plain(stream)),
        )
        .await
        .expect("WebSocket handshake timed out")
        .expect("WebSocket handshake failed");
        Client::accept(ws).await
    }

    /// GETs a path with a fresh HTTP/1.1 connection.
    pub(crate) async fn get(&self, path: &str) -> HttpResponse {
        http_get(self.addr, path, &[]).await
    }

    /// GETs a path with extra request headers.
    pub(crate) async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        http_get(self.addr, path, headers).await
    }

    /// `POST path` with a JSON `body`.
    #[allow(dead_code)]
    pub(crate) async fn post(&self, path: &str, body: &str) -> HttpResponse {
        let addr = self.addr;
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        http_exchange(addr, &request, &format!("POST {path}")).await
    }

    /// The `/metrics` text.
    pub(crate) async fn metrics(&self) -> String {
        let response = self.get("/metrics").await;
        assert_eq!(response.status, 200, "GET /metrics");
        response.text()
    }

    /// One metric's value, by its full name (`tether_messages_in_total`).
    pub(crate) async fn metric(&self, name: &str) -> f64 {
        let text = self.metrics().await;
        metric_value(&text, name).unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
    }

    /// Polls a metric until `done` holds for its value; returns that value.
    pub(crate) async fn wait_for_metric(&self, name: &str, done: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + WAIT;
        loop {
            let value = self.metric(name).await;
            if done(value) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "{name} stayed at {value} for {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Signals shutdown without waiting for it.
    pub(crate) fn begin_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Waits (at most `limit`) for `run` to return; returns its result.
    pub(crate) async fn stopped(&mut self, limit: Duration) -> io::Result<()> {
        let task = self.task.take().expect("the server is still running");
        timeout(limit, task)
            .await
            .unwrap_or_else(|_| panic!("run did not return within {limit:?}"))
            .expect("the server task panicked")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.begin_shutdown();
    }
}

/// One WebSocket client that has read its `connected`.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) ws: Ws,
    /// The client id the server gave it.
    pub(crate) id: String,
    /// The resume token from its `connected`.
    pub(crate) resume_token: Option<String>,
}

impl Client {
    /// Reads `connected` from a fresh connection.
    pub(crate) async fn accept(ws: Ws) -> Self {
        let mut client = Self {
            ws,
            id: String::new(),
            resume_token: None,
        };
        let connected = client.recv_type("connected").await;
        client.id = connected["payload"]["clientId"]
            .as_str()
            .expect("clientId is a string")
            .to_owned();
        client.resume_token = connected["payload"]["resumeToken"]
            .as_str()
            .map(str::to_owned);
        client
    }

    pub(crate) async fn send(&mut self, message: ClientMessage) {
        self.send_frame(ClientFrame::new(message)).await;
    }

    pub(crate) async fn send_frame(&mut self, frame: ClientFrame) {
        let text = serde_json::to_string(&frame).expect("client frames serialize");
        self.send_text(&text).await;
    }

    pub(crate) async fn send_json(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    pub(crate) async fn send_text(&mut self, text: &str) {
        self.send_raw(Message::text(text)).await;
    }

    /// Sends a text, or says why it could not.
    pub(crate) async fn try_send_text(&mut self, text: &str) -> Result<(), tungstenite::Error> {
        self.ws.send(Message::text(text)).await
    }

    pub(crate) async fn send_raw(&mut self, message: Message) {
        timeout(WAIT, self.ws.send(message))
            .await
            .expect("send timed out")
            .expect("send failed");
    }

    /// The next text, binary or close message (pings and pongs skipped, and answered by
    /// tungstenite as it reads). `None` when the connection ended.
    pub(crate) async fn next_message(&mut self) -> Option<Result<Message, tungstenite::Error>> {
        loop {
            let next = timeout(WAIT, self.ws.next())
                .await
                .expect("timed out waiting for a message");
            match next {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => return other,
            }
        }
    }

    /// The next message, which must be text.
    pub(crate) async fn recv_text(&mut self) -> String {
        match self.next_message().await {
            Some(Ok(Message::Text(text))) => text.as_str().to_owned(),
            other => panic!("expected a text message, got {other:?}"),
        }
    }

    /// The next message, which must be a JSON text.
    pub(crate) async fn recv(&mut self) -> Value {
        let text = self.recv_text().await;
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
    }

    /// The next message, which must be a JSON message of this type.
    pub(crate) async fn recv_type(&mut self, kind: &str) -> Value {
        let message = self.recv().await;
        assert_eq!(message["type"], kind, "unexpected message {message}");
        message
    }

    /// Skips messages until one of this type arrives.
    pub(crate) async fn recv_until(&mut self, kind: &str) -> Value {
        loop {
            let message = self.recv().await;
            if message["type"] == kind {
                return message;
            }
        }
    }

    /// Reads past any data messages until the server's close frame, and asserts its code.
    pub(crate) async fn expect_close(&mut self, code: u16) {
        loop {
            match self.next_message().await {
                Some(Ok(Message::Close(Some(frame)))) => {
                    assert_eq!(
                        u16::from(frame.code),
                        code,
                        "close reason {:?}",
                        frame.reason
                    );
                    return;
                }
                Some(Ok(Message::Close(None))) => panic!("closed without a code, expected {code}"),
                Some(Ok(_)) => continue,
                Some(Err(err)) => {
                    panic!("connection failed ({err}) instead of closing with {code}")
                }
                None => panic!("connection ended without a close frame, expected {code}"),
            }
        }
    }

    /// Proves nothing was queued for this client before now: messages to one client keep the
    /// server's order, so if the answer to a fresh `ping` is the next message, nothing else was
    /// waiting.
    pub(crate) async fn expect_nothing_pending(&mut self) {
        self.send(ClientMessage::Ping).await;
        let next = self.recv().await;
        assert_eq!(
            next,
            json!({"type": "pong"}),
            "expected nothing before the pong"
        );
    }

    /// Joins a room and returns the `joined` message.
    pub(crate) async fn join(&mut self, room: &str) -> Value {
        self.send(ClientMessage::Join(JoinRoom::new(room))).await;
        self.recv_type("joined").await
    }

    /// Sends a chat message to a room.
    pub(crate) async fn say(&mut self, room: &str, text: &str) {
        self.send(ClientMessage::Message(SendText::new(room, text)))
            .await;
    }

    /// Closes with 1000 and waits for the server's answer.
    pub(crate) async fn close(mut self) {
        timeout(WAIT, self.ws.close(None))
            .await
            .expect("close timed out")
            .expect("close failed");
        while let Some(Ok(_)) = timeout(WAIT, self.ws.next())
            .await
            .expect("the server did not finish the close")
        {}
    }
}

/// Connects `n` clients and joins them all to `room`, reading every `user:joined` so that each
/// client's queue is empty afterwards.
pub(crate) async fn room_of(server: &TestServer, room: &str, n: usize) -> Vec<Client> {
    let mut clients: Vec<Client> = Vec::with_capacity(n);
    for _ in 0..n {
        let mut client = server.connect().await;
        client.join(room).await;
        for earlier in &mut clients {
            earlier.recv_type("user:joined").await;
        }
        clients.push(client);
    }
    clients
}

/// A raw text frame as a client sends it: masked, with any payload bytes at all (tungstenite
/// refuses to build a text message that is not UTF-8, but sends a prepared frame unchecked).
pub(crate) fn raw_text_frame(payload: &[u8]) -> Message {
    Message::Frame(tungstenite::protocol::frame::Frame::message(
        payload.to_vec(),
        coding::OpCode::Data(coding::Data::Text),
        true,
    ))
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl HttpResponse {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("a UTF-8 body")
    }
}

/// GETs `path` over a fresh connection (`Connection: close`) and reads the whole response.
pub(crate) async fn http_get(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    http_exchange(addr, &request, &format!("GET {path}")).await
}

/// Sends a whole HTTP/1.1 request on a new connection and reads the response to its end.
async fn http_exchange(addr: SocketAddr, request: &str, what: &str) -> HttpResponse {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        io::Result::Ok(raw)
    };
    let raw = timeout(WAIT, exchange)
        .await
        .unwrap_or_else(|_| panic!("{what} timed out"))
        .unwrap_or_else(|err| panic!("{what} failed: {err}"));
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = std::str::from_utf8(&raw[..split]).expect("an ASCII response head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("a status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut response = HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    };
    if response
        .header("transfer-encoding")
        .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
    {
        response.body = dechunk(&response.body);
    }
    response
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size_text = std::str::from_utf8(&body[..line_end]).expect("an ASCII chunk size");
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .expect("a hex chunk size");
        if size == 0 {
            return out;
        }
        let start = line_end + 2;
        out.extend_from_slice(&body[start..start + size]);
        body = &body[start + size + 2..];
    }
}

/// Sends `request` as is over a fresh connection and reads one response (head, and a body of
/// its `content-length`): the response, or `None` when the server closed without answering.
pub(crate) async fn raw_exchange(
    addr: SocketAddr,
    request: &[u8],
    limit: Duration,
) -> Option<HttpResponse> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(request).await?;
        let mut raw = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = parse_response(&raw[..at + 4]);
                let body: usize = head
                    .header("content-length")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                if raw.len() >= at + 4 + body {
                    break;
                }
            }
            match stream.read(&mut chunk).await {
                // A reset after the answer still leaves the answer read.
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&chunk[..n]),
            }
        }
        io::Result::Ok(raw)
    };
    let raw = timeout(limit, exchange)
        .await
        .expect("no complete answer in time")
        .expect("connect");
    (!raw.is_empty()).then(|| parse_response(&raw))
}

/// A WebSocket upgrade request for `addr` with `extra` header lines (each ending in CRLF).
pub(crate) fn upgrade_request(addr: SocketAddr, extra: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// A metric's value in Prometheus text: the line `name value` (labels are not used here).
pub(crate) fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(' ')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Polls `check` until it returns true; fails after [`WAIT`] with `what`.
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Milliseconds since the Unix epoch, to bracket the server's timestamps.
pub(crate) fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}

/// A WebSocket spoken by hand over a bare `TcpStream`, for what no well-behaved client library
/// will send: unmasked frames, reserved bits.
#[derive(Debug)]
pub(crate) struct RawWs {
    stream: TcpStream,
    // Bytes read past the end of what was parsed so far.
    buffer: Vec<u8>,
}

impl RawWs {
    /// Connects and performs the opening handshake.
    pub(crate) async fn connect(addr: SocketAddr) -> Self {
        let stream = timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect");
        Self::handshake(stream, addr).await
    }

    /// Connects over a socket with the smallest receive buffer the kernel allows, so that what
    /// the server sends and this client does not read backs up at the server quickly.
    pub(crate) async fn connect_small_buffer(addr: SocketAddr) -> Self {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(1024).expect("SO_RCVBUF");
        let stream = timeout(WAIT, socket.connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect");
        Self::handshake(stream, addr).await
    }

    /// Sends bytes as they are: frames a client library would never make.
    pub(crate) async fn send_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        timeout(WAIT, self.stream.write_all(bytes))
            .await
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
    }

    async fn handshake(mut stream: TcpStream, addr: SocketAddr) -> Self {
        let handshake = async {
            let request = format!(
                "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).await?;
            let mut buffer = Vec::new();
            let end = loop {
                if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                    break at + 4;
                }
                let mut chunk = [0u8; 1024];
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                buffer.extend_from_slice(&chunk[..n]);
            };
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            assert!(head.starts_with("HTTP/1.1 101"), "not upgraded: {head}");
            buffer.drain(..end);
            io::Result::Ok(Self { stream, buffer })
        };
        timeout(WAIT, handshake)
            .await
            .expect("raw handshake timed out")
            .expect("raw handshake failed")
    }

    /// Sends one frame: `first_byte` holds FIN, the reserved bits and the opcode; the payload is
    /// masked when `mask` is given (clients must mask).
    pub(crate) async fn send_frame(
        &mut self,
        first_byte: u8,
        payload: &[u8],
        mask: Option<[u8; 4]>,
    ) {
        let mut frame = vec![first_byte];
        let mask_bit = if mask.is_some() { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => frame.push(mask_bit | n as u8),
            n if n <= usize::from(u16::MAX) => {
                frame.push(mask_bit | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(mask_bit | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        match mask {
            Some(key) => {
                frame.extend_from_slice(&key);
                frame.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
            }
            None => frame.extend_from_slice(payload),
        }
        timeout(WAIT, self.stream.write_all(&frame))
            .await
            .expect("raw send timed out")
            .expect("raw send failed");
    }

    /// Reads one frame from the server (which never masks): its opcode and payload, or `None`
    /// when the connection ended.
    pub(crate) async fn read_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let header = self.read_exact(2).await?;
        let opcode = header[0] & 0x0F;
        let len = match header[1] & 0x7F {
            126 => {
                let bytes = self.read_exact(2).await?;
                usize::from(u16::from_be_bytes([bytes[0], bytes[1]]))
            }
            127 => {
                let bytes = self.read_exact(8).await?;
                u64::from_be_bytes(bytes.try_into().expect("eight bytes")) as usize
            }
            n => usize::from(n),
        };
        let payload = self.read_exact(len).await?;
        Some((opcode, payload))
    }

    /// Reads frames until the server's close frame and asserts its code.
    pub(crate) async fn expect_close(&mut self, code: u16) {
        loop {
            match self.read_frame().await {
                Some((0x8, payload)) => {
                    assert!(payload.len() >= 2, "a close frame without a code");
                    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), code);
                    return;
                }
                Some(_) => continue,
                None => panic!("connection ended without a close frame, expected {code}"),
            }
        }
    }

    async fn read_exact(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buffer.len() < n {
            let mut chunk = [0u8; 4096];
            let read = timeout(WAIT, self.stream.read(&mut chunk))
                .await
                .expect("timed out reading a raw frame");
            match read {
                Ok(0) | Err(_) => return None,
                Ok(read) => self.buffer.extend_from_slice(&chunk[..read]),
            }
        }
        Some(self.buffer.drain(..n).collect())
    }
}
