//! A WebSocket proxy that plays a failing server, between a browser test and the real one.

use crate::{fault::Fault, muzzle::Muzzle};
use futures_util::{SinkExt, StreamExt};
use std::{future::Future, net::SocketAddr, time::Duration};
use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinSet,
    time::{Instant, sleep, timeout, timeout_at},
};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, accept_hdr_async, connect_async,
    tungstenite::{
        Error as WsError, Message,
        client::IntoClientRequest,
        handshake::{
            machine::TryParse,
            server::{ErrorResponse, Request, Response},
        },
        http::{HeaderValue, header},
        protocol::{CloseFrame, frame::coding::CloseCode},
    },
};

/// How long a client may take to send its handshake request, and the server to answer the
/// proxy's.
const HANDSHAKE_WAIT: Duration = Duration::from_secs(5);

/// How long a close frame waits to be sent, and then for its answer.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// The largest handshake request the proxy reads; browsers send well under 2 KiB.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// How soon a request head that has only partly arrived is looked at again.
const PEEK_AGAIN: Duration = Duration::from_millis(5);

/// The client's side of a proxied connection.
type ClientSocket = WebSocketStream<Muzzle<TcpStream>>;

/// The server's side of a proxied connection.
type ServerSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket proxy in front of one server, which misbehaves on request, per connection.
///
/// Browser tests need a server that hangs, closes with a chosen code, or echoes; the real
/// server has no such switches (no test machinery in its hot path), so the tests open their
/// WebSocket to this proxy instead, with the fault in the query of the URL:
///
/// - `?fault=mute`: pass through until the server's first message (`connected`) has reached the
///   client, then send the client nothing at all, not even a pong or a close frame. What the
///   client sends still reaches the server.
/// - `?fault=close&code=N`: after the first message, close the client's connection with code
///   `N` (reason `test fault`) and drop the server's.
/// - `?fault=echo`: send every data frame back unchanged, text as text and binary as binary;
///   no server is involved.
/// - anything else, a malformed query included: a plain pass-through to the server.
///
/// The server chooses: the proxy offers it the client's subprotocols and `Origin`, and gives the
/// client the subprotocol the server picked, or the server's refusal (its HTTP status and body).
/// While the server is down, a connection through the proxy fails as one to a dead server would:
/// its TCP connection is dropped before the handshake is answered.
///
/// Each connection is one task that carries both directions and ends as soon as either side
/// ends; dropping [`FaultProxy::run`]'s future (or its shutdown) ends them all. Pings are
/// answered on each hop by tungstenite, not passed along: the server's heartbeat watches the
/// proxy, the client's heartbeat (a protocol message) goes end to end.
#[derive(Debug)]
pub struct FaultProxy {
    listener: TcpListener,
    upstream: SocketAddr,
}

impl FaultProxy {
    /// A proxy that accepts on `listener` and connects to the server at `upstream` for every
    /// connection. The server need not be up: `upstream` is tried anew each time.
    pub fn new(listener: TcpListener, upstream: SocketAddr) -> Self {
        Self { listener, upstream }
    }

    /// Serves connections until `shutdown` completes, then ends every connection still open.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        // Owned here, so that returning (or being dropped) aborts every connection's task.
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        connections.spawn(serve(stream, self.upstream));
                    }
                    Err(err) => {
                        // Out of file descriptors, most likely: give the open connections a
                        // moment to end instead of spinning on the error.
                        tracing::warn!(%err, "the fault proxy could not accept a connection");
                        sleep(Duration::from_millis(50)).await;
                    }
                },
                // Finished connections are collected as they end, so the set holds open ones only.
                Some(joined) = connections.join_next() => {
                    if let Err(err) = joined {
                        tracing::error!(%err, "a fault proxy connection panicked");
                    }
                }
            }
        }
    }
}

/// Serves one client connection, from its handshake to its end.
async fn serve(client: TcpStream, upstream: SocketAddr) {
    // The request is only looked at here; the WebSocket handshake below reads it for real.
    let Some(request) = peek_request(&client).await else {
        return;
    };
    let fault = Fault::from_query(request.uri().query());
    let client = Muzzle::new(client);
    if fault == Fault::Echo {
        if let Some(mut client) = accept(client, Ok(first_offered_protocol(&request))).await {
            echo(&mut client).await;
        }
        return;
    }
    // The server answers first, so that the client gets the server's choice of subprotocol, or
    // its refusal, and so that a dead server fails the client's handshake rather than a
    // connection that opened.
    match connect_upstream(&request, upstream).await {
        Upstream::Connected(mut server, protocol) => {
            if let Some(mut client) = accept(client, Ok(protocol)).await {
                relay(&mut client, &mut server, fault).await;
            }
        }
        Upstream::Refused(refusal) => {
            // The handshake fails by sending the refusal: that is all there is to do.
            let _ = accept(client, Err(refusal)).await;
        }
        // The connection is already accepted, so it cannot be refused as a dead server's port
        // would refuse it; dropping it unanswered fails the handshake just the same.
        Upstream::Unreachable => {}
    }
}

/// Waits until the client's whole request head has arrived, and parses it, without taking it
/// off the socket. `None` when the client sends none in time, too large a one, or not HTTP.
async fn peek_request(client: &TcpStream) -> Option<Request> {
    let deadline = Instant::now() + HANDSHAKE_WAIT;
    let mut head = vec![0; MAX_REQUEST_HEAD];
    loop {
        let peeked = timeout_at(deadline, client.peek(&mut head))
            .await
            .ok()?
            .ok()?;
        if peeked == 0 {
            return None;
        }
        match Request::try_parse(&head[..peeked]) {
            Ok(Some((_, request))) => return Some(request),
            Ok(None) if peeked < head.len() => {
                // A peek returns at once while anything is unread, so wait a little for the rest
                // instead of spinning.
                timeout_at(deadline, sleep(PEEK_AGAIN)).await.ok()?;
            }
            _ => return None,
        }
    }
}

/// The first subprotocol the client offered, which is what an echo server agrees to.
fn first_offered_protocol(request: &Request) -> Option<HeaderValue> {
    request
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|offer| offer.split(','))
        .map(str::trim)
        .find(|protocol| !protocol.is_empty())
        .and_then(|protocol| HeaderValue::from_str(protocol).ok())
}

/// How the server answered the proxy's handshake.
enum Upstream {
    /// It upgraded, with this subprotocol. Boxed, as the socket would make every answer as large
    /// as itself.
    Connected(Box<ServerSocket>, Option<HeaderValue>),
    /// It refused with an HTTP response, which the client is to get too.
    Refused(ErrorResponse),
    /// It is not there, or did not answer in time.
    Unreachable,
}

/// Opens the server's side with the client's path, subprotocol offer and `Origin`.
async fn connect_upstream(request: &Request, upstream: SocketAddr) -> Upstream {
    let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let Ok(mut forwarded) = format!("ws://{upstream}{target}").into_client_request() else {
        return Upstream::Unreachable;
    };
    for name in [header::ORIGIN, header::SEC_WEBSOCKET_PROTOCOL] {
        for value in request.headers().get_all(&name) {
            forwarded.headers_mut().append(&name, value.clone());
        }
    }
    match timeout(HANDSHAKE_WAIT, connect_async(forwarded)).await {
        Ok(Ok((server, response))) => {
            let protocol = response
                .headers()
                .get(header::SEC_WEBSOCKET_PROTOCOL)
                .cloned();
            Upstream::Connected(Box::new(server), protocol)
        }
        Ok(Err(WsError::Http(response))) => {
            let body = response
                .body()
                .as_deref()
                .map(|body| String::from_utf8_lossy(body).into_owned());
            let mut refusal = ErrorResponse::new(body);
            *refusal.status_mut() = response.status();
            Upstream::Refused(refusal)
        }
        Ok(Err(err)) => {
            tracing::debug!(%err, "the server is not there");
            Upstream::Unreachable
        }
        Err(_) => {
            tracing::debug!("the server did not answer the handshake in time");
            Upstream::Unreachable
        }
    }
}

/// Completes the client's handshake with `answer`: the subprotocol to agree to, or a refusal to
/// send instead. `None` when the handshake did not complete.
// The large error is tungstenite's: its handshake callback returns a whole HTTP response.
#[allow(clippy::result_large_err)]
async fn accept(
    client: Muzzle<TcpStream>,
    answer: Result<Option<HeaderValue>, ErrorResponse>,
) -> Option<ClientSocket> {
    let callback = move |_: &Request, mut response: Response| {
        if let Some(protocol) = answer? {
            response
                .headers_mut()
                .insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
        }
        Ok(response)
    };
    timeout(HANDSHAKE_WAIT, accept_hdr_async(client, callback))
        .await
        .ok()?
        .ok()
}

/// Sends every data frame back as it came, until the client closes.
async fn echo(client: &mut ClientSocket) {
    while let Some(Ok(message)) = client.next().await {
        match message {
            Message::Text(_) | Message::Binary(_) => {
                if client.send(message).await.is_err() {
                    return;
                }
            }
            Message::Close(_) => {
                // Tungstenite queued the answer to the client's close; this sends it.
                let _ = timeout(CLOSE_WAIT, SinkExt::close(client)).await;
                return;
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }
}

/// Carries messages both ways, one at a time, and applies `fault`, until either side ends.
///
/// A message waits to be written before the next is read, from either side. That holds no
/// connection up for long: both the browser and the server always read what they are sent.
async fn relay(client: &mut ClientSocket, server: &mut ServerSocket, fault: Fault) {
    loop {
        tokio::select! {
            incoming = client.next() => match incoming {
                Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                    if server.send(message).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    // The client is leaving: tell the server with the client's own code, and
                    // send the client the answer tungstenite queued for it.
                    let _ = timeout(CLOSE_WAIT, server.close(frame)).await;
                    let _ = timeout(CLOSE_WAIT, SinkExt::close(client)).await;
                    return;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                // The client vanished or broke the protocol: the server's connection is dropped
                // without a close frame, as the client's was.
                Some(Err(_)) | None => return,
            },
            incoming = server.next() => match incoming {
                Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                    // Muzzled, this write goes nowhere, and reports success.
                    if client.send(message).await.is_err() {
                        return;
                    }
                    match fault {
                        // From here on the client hears nothing, whatever the server says.
                        Fault::Mute => client.get_mut().muzzle(),
                        Fault::Close(code) => {
                            let frame = CloseFrame {
                                code: CloseCode::from(code),
                                reason: "test fault".into(),
                            };
                            close(client, Some(frame)).await;
                            return;
                        }
                        Fault::None | Fault::Echo => {}
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    // The server is closing (shutting down, or closing a slow client, say): send
                    // it the answer tungstenite queued, then close the client with its code.
                    let _ = timeout(CLOSE_WAIT, server.flush()).await;
                    close(client, frame).await;
                    return;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                // The server died (killed by a test, say): the client's connection is dropped
                // without a close frame, as a dead server's would be.
                Some(Err(_)) | None => return,
            },
        }
    }
}

/// Sends the client a close frame, and waits briefly for its answer.
async fn close(client: &mut ClientSocket, frame: Option<CloseFrame>) {
    if !matches!(timeout(CLOSE_WAIT, client.close(frame)).await, Ok(Ok(()))) {
        return;
    }
    let _ = timeout(CLOSE_WAIT, async {
        while let Some(Ok(message)) = client.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}
