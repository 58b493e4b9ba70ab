//! The fault proxy over real sockets, in front of the real server (in-process, on port 0).

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::{net::SocketAddr, time::Duration};
use tether_server::Config;
use tether_testkit::FaultProxy;
use tokio::{net::TcpListener, sync::oneshot, time::timeout};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{self, Message, client::IntoClientRequest, http},
};

/// The longest any single wait may take before the test fails. Generous, because other builds
/// may share the machine; a passing test never comes near it.
const WAIT: Duration = Duration::from_secs(5);

/// How long a muted connection is watched for anything at all.
const QUIET: Duration = Duration::from_millis(300);

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// The real server and the proxy in front of it. Dropping it stops both.
struct Setup {
    proxy: SocketAddr,
    stop_server: Option<oneshot::Sender<()>>,
    _stop_proxy: oneshot::Sender<()>,
}

impl Setup {
    /// Starts a server, and a proxy in front of it.
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let server = listener.local_addr().expect("local address");
        let (stop_server, stopped) = oneshot::channel::<()>();
        let config = Config::default()
            .store(tether_server::config::StoreKind::Memory)
            // A client that closes is seen leaving at once (the server's grace for a client
            // coming back is not what these tests are about).
            .rejoin_grace(Duration::ZERO)
            .static_dir("/nonexistent/tether-test-dist")
            .shutdown_grace(Duration::from_secs(2));
        tokio::spawn(tether_server::run(listener, config, async move {
            let _ = stopped.await;
        }));
        let mut setup = Self::in_front_of(server).await;
        setup.stop_server = Some(stop_server);
        setup
    }

    /// Starts a proxy in front of whatever is (or is not) at `server`.
    async fn in_front_of(server: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let proxy = listener.local_addr().expect("local address");
        let (stop_proxy, stopped) = oneshot::channel::<()>();
        tokio::spawn(FaultProxy::new(listener, server).run(async move {
            let _ = stopped.await;
        }));
        Self {
            proxy,
            stop_server: None,
            _stop_proxy: stop_proxy,
        }
    }

    /// The proxy's WebSocket URL, with `query` (without `?`) appended when not empty.
    fn url(&self, query: &str) -> String {
        if query.is_empty() {
            format!("ws://{}/ws", self.proxy)
        } else {
            format!("ws://{}/ws?{query}", self.proxy)
        }
    }

    /// Opens a WebSocket through the proxy, with `query` on the URL and extra request headers,
    /// and returns it with the subprotocol the handshake agreed to.
    async fn open_with(&self, query: &str, headers: &[(&str, &str)]) -> (Ws, Option<String>) {
        let request = self.request(query, headers);
        let (ws, response) = timeout(WAIT, connect_async(request))
            .await
            .expect("WebSocket handshake timed out")
            .expect("WebSocket handshake failed");
        let protocol = response
            .headers()
            .get(http::header::SEC_WEBSOCKET_PROTOCOL)
            .map(|value| value.to_str().expect("ASCII").to_owned());
        (ws, protocol)
    }

    /// Opens a WebSocket through the proxy with `query` on the URL.
    async fn open(&self, query: &str) -> Ws {
        self.open_with(query, &[]).await.0
    }

    /// Opens a WebSocket through the proxy and reads the server's `connected`.
    async fn connect(&self, query: &str) -> Client {
        Client::accept(self.open(query).await).await
    }

    /// Attempts a handshake; returns how it failed.
    async fn refused(&self, query: &str, headers: &[(&str, &str)]) -> tungstenite::Error {
        let request = self.request(query, headers);
        match timeout(WAIT, connect_async(request))
            .await
            .expect("WebSocket handshake timed out")
        {
            Ok((_, response)) => panic!("the handshake succeeded: {}", response.status()),
            Err(err) => err,
        }
    }

    fn request(&self, query: &str, headers: &[(&str, &str)]) -> http::Request<()> {
        let mut request = self
            .url(query)
            .into_client_request()
            .expect("a valid request");
        for (name, value) in headers {
            request.headers_mut().insert(
                http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                http::HeaderValue::from_str(value).expect("header value"),
            );
        }
        request
    }

    /// Starts the server's shutdown: it closes every client with 1001.
    fn stop_server(&mut self) {
        if let Some(stop) = self.stop_server.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.stop_server();
    }
}

/// A WebSocket through the proxy that has read its `connected`.
struct Client {
    ws: Ws,
    /// The client id the server gave it.
    id: String,
}

impl Client {
    async fn accept(ws: Ws) -> Self {
        let mut client = Self {
            ws,
            id: String::new(),
        };
        let connected = client.recv_type("connected").await;
        client.id = connected["payload"]["clientId"]
            .as_str()
            .expect("clientId is a string")
            .to_owned();
        client
    }

    async fn send(&mut self, message: Message) {
        timeout(WAIT, self.ws.send(message))
            .await
            .expect("send timed out")
            .expect("send failed");
    }

    async fn send_json(&mut self, value: Value) {
        self.send(Message::text(value.to_string())).await;
    }

    /// The next message of any kind, pings and pongs included. `None` when the connection ended.
    async fn next(&mut self) -> Option<Result<Message, tungstenite::Error>> {
        timeout(WAIT, self.ws.next())
            .await
            .expect("timed out waiting for a message")
    }

    /// The next data or close message, skipping pings and pongs.
    async fn next_message(&mut self) -> Option<Result<Message, tungstenite::Error>> {
        loop {
            match self.next().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => return other,
            }
        }
    }

    /// The next message, which must be a JSON message of this type.
    async fn recv_type(&mut self, kind: &str) -> Value {
        let message = match self.next_message().await {
            Some(Ok(Message::Text(text))) => serde_json::from_str::<Value>(text.as_str())
                .unwrap_or_else(|err| panic!("not JSON ({err}): {text}")),
            other => panic!("expected a text message, got {other:?}"),
        };
        assert_eq!(message["type"], kind, "unexpected message {message}");
        message
    }

    async fn join(&mut self, room: &str) -> Value {
        self.send_json(json!({"type": "join", "payload": {"roomId": room}}))
            .await;
        self.recv_type("joined").await
    }

    /// Proves the connection is a plain one: the server's answer to a `ping` is the next message.
    async fn expect_plain_connection(&mut self) {
        self.send_json(json!({"type": "ping"})).await;
        self.recv_type("pong").await;
    }

    /// Reads the close frame, asserts its code and reason, and that the connection then ends.
    async fn expect_close(&mut self, code: u16, reason: &str) {
        match self.next_message().await {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(
                    u16::from(frame.code),
                    code,
                    "close reason {:?}",
                    frame.reason
                );
                assert_eq!(frame.reason.as_str(), reason);
            }
            other => panic!("expected a close frame with {code}, got {other:?}"),
        }
        assert!(
            matches!(self.next().await, None | Some(Err(_))),
            "the connection went on after the close"
        );
    }
}

#[tokio::test]
async fn without_a_fault_the_proxy_passes_the_protocol_through() {
    let setup = Setup::start().await;
    let mut client = setup.connect("").await;
    assert_eq!(client.join("r").await["payload"]["members"], 1);
    client.expect_plain_connection().await;
}

#[tokio::test]
async fn clients_through_the_proxy_meet_in_rooms() {
    let setup = Setup::start().await;
    let mut alice = setup.connect("").await;
    alice.join("r").await;
    let mut bob = setup.connect("").await;
    bob.join("r").await;
    assert_eq!(
        alice.recv_type("user:joined").await["payload"]["userId"],
        bob.id.as_str()
    );
}

#[tokio::test]
async fn an_unknown_fault_is_no_fault() {
    let setup = Setup::start().await;
    let mut client = setup.connect("fault=explode").await;
    client.expect_plain_connection().await;
}

#[tokio::test]
async fn fault_close_without_a_code_is_no_fault() {
    let setup = Setup::start().await;
    let mut client = setup.connect("fault=close").await;
    client.expect_plain_connection().await;
}

#[tokio::test]
async fn a_malformed_fault_query_does_not_fail_the_handshake() {
    let setup = Setup::start().await;
    let mut client = setup.connect("fault=close&code=loud").await;
    client.expect_plain_connection().await;
}

#[tokio::test]
async fn fault_close_sends_connected_then_closes_with_4000() {
    let setup = Setup::start().await;
    // `connect` reads `connected`: the one message that comes before the close.
    let mut client = setup.connect("fault=close&code=4000").await;
    client.expect_close(4000, "test fault").await;
}

#[tokio::test]
async fn fault_close_sends_connected_then_closes_with_1008() {
    let setup = Setup::start().await;
    let mut client = setup.connect("fault=close&code=1008").await;
    client.expect_close(1008, "test fault").await;
}

#[tokio::test]
async fn fault_mute_sends_connected_then_nothing_not_even_a_pong() {
    let setup = Setup::start().await;
    let mut client = setup.connect("fault=mute").await;
    client.send_json(json!({"type": "ping"})).await;
    client.send(Message::text("ping")).await;
    client.send(Message::Ping(vec![1, 2, 3].into())).await;
    // Read raw: a WebSocket pong is an answer too.
    let heard = timeout(QUIET, client.ws.next()).await;
    assert!(heard.is_err(), "a muted server answered: {heard:?}");
}

#[tokio::test]
async fn fault_mute_still_passes_on_what_the_client_sends() {
    let setup = Setup::start().await;
    let mut listener = setup.connect("").await;
    listener.join("r").await;
    let mut muted = setup.connect("fault=mute").await;
    muted
        .send_json(json!({"type": "join", "payload": {"roomId": "r"}}))
        .await;
    // Only what the muted client would receive is withheld; the room hears it join.
    assert_eq!(
        listener.recv_type("user:joined").await["payload"]["userId"],
        muted.id.as_str()
    );
}

#[tokio::test]
async fn fault_echo_sends_every_frame_back_unchanged() {
    let setup = Setup::start().await;
    let mut client = Client {
        ws: setup.open("fault=echo").await,
        id: String::new(),
    };
    client.send(Message::text(r#"{"type":"ping"}"#)).await;
    match client.next_message().await {
        Some(Ok(Message::Text(text))) => assert_eq!(text.as_str(), r#"{"type":"ping"}"#),
        other => panic!("expected the text frame back, got {other:?}"),
    }
    client.send(Message::binary(vec![1u8, 2, 3])).await;
    match client.next_message().await {
        Some(Ok(Message::Binary(bytes))) => assert_eq!(&bytes[..], &[1, 2, 3]),
        other => panic!("expected the binary frame back, got {other:?}"),
    }
}

#[tokio::test]
async fn fault_echo_needs_no_server() {
    let nothing_there = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0")
        .local_addr()
        .expect("local address");
    let setup = Setup::in_front_of(nothing_there).await;
    let (mut ws, protocol) = setup
        .open_with("fault=echo", &[("Sec-WebSocket-Protocol", "chat, json")])
        .await;
    assert_eq!(protocol.as_deref(), Some("chat"), "the first one offered");
    timeout(WAIT, ws.send(Message::text("hello")))
        .await
        .expect("send timed out")
        .expect("sent");
    let echoed = timeout(WAIT, ws.next()).await.expect("timed out");
    assert!(
        matches!(&echoed, Some(Ok(Message::Text(text))) if text.as_str() == "hello"),
        "{echoed:?}"
    );
}

#[tokio::test]
async fn the_client_gets_the_subprotocol_the_server_picked() {
    let setup = Setup::start().await;
    // The server prefers `chat` to `json`, whatever the client's order.
    let (_, protocol) = setup
        .open_with("", &[("Sec-WebSocket-Protocol", "json, chat")])
        .await;
    assert_eq!(protocol.as_deref(), Some("chat"));
    let (_, protocol) = setup
        .open_with("fault=mute", &[("Sec-WebSocket-Protocol", "json")])
        .await;
    assert_eq!(protocol.as_deref(), Some("json"));
    let (_, protocol) = setup.open_with("", &[]).await;
    assert_eq!(protocol, None);
}

#[tokio::test]
async fn the_origin_reaches_the_server_and_its_refusal_reaches_the_client() {
    let setup = Setup::start().await;
    let (ws, _) = setup
        .open_with("", &[("Origin", "http://localhost:5173")])
        .await;
    Client::accept(ws).await;
    match setup
        .refused("", &[("Origin", "https://evil.example")])
        .await
    {
        tungstenite::Error::Http(response) => {
            assert_eq!(response.status(), http::StatusCode::FORBIDDEN)
        }
        other => panic!("expected the server's 403, got {other}"),
    }
}

#[tokio::test]
async fn with_the_server_down_the_handshake_fails_as_with_a_dead_server() {
    let nothing_there = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0")
        .local_addr()
        .expect("local address");
    let setup = Setup::in_front_of(nothing_there).await;
    for query in ["", "fault=mute", "fault=close&code=4000"] {
        let err = setup.refused(query, &[]).await;
        assert!(
            !matches!(err, tungstenite::Error::Http(_)),
            "answered like a live server: {err}"
        );
    }
}

#[tokio::test]
async fn the_servers_close_reaches_the_client_with_its_code() {
    let mut setup = Setup::start().await;
    let mut client = setup.connect("").await;
    setup.stop_server();
    client.expect_close(1001, "server shutting down").await;
}

#[tokio::test]
async fn the_clients_close_is_answered_and_reaches_the_server() {
    let setup = Setup::start().await;
    let mut listener = setup.connect("").await;
    listener.join("r").await;
    let mut leaving = setup.connect("").await;
    leaving.join("r").await;
    listener.recv_type("user:joined").await;
    timeout(WAIT, leaving.ws.close(None))
        .await
        .expect("close timed out")
        .expect("close sent");
    assert!(
        matches!(leaving.next().await, Some(Ok(Message::Close(_)))),
        "the close was answered"
    );
    assert_eq!(
        listener.recv_type("user:left").await["payload"]["userId"],
        leaving.id.as_str()
    );
}
