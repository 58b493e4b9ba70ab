//! A client that floods a room with chat messages as fast as its socket takes them.

use crate::{Dialect, Endpoint, Incoming};
use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::{net::TcpSocket, time::Instant};
use tokio_tungstenite::tungstenite::{Message, protocol::WebSocketConfig};

/// How long the flooder waits for the answers to what it sent before its time ran out.
const LAST_ANSWERS: Duration = Duration::from_millis(500);

/// How long one connect, handshake and join may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One client that joins a room and sends chat messages into it as fast as its socket takes
/// them, `batch` frames per write, each with an id so that every answer says whether the server
/// took it; it reads the answers as they come. When the server closes it, it stops, or with
/// [`reconnect`](Self::reconnect) connects again at once and goes on, until its time is up.
///
/// It comes from an address of its own (127.0.0.9 by default), so that what the server does to
/// it (per-address limits included) does not touch the generator's other clients.
#[derive(Debug, Clone)]
pub struct Flooder {
    room: String,
    text_bytes: usize,
    batch: usize,
    reconnect: bool,
    source: IpAddr,
}

/// What happened to a flooder.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FlooderFate {
    /// Connections it opened (1 unless it reconnects).
    pub connections: u64,
    /// Connections the server refused before the upgrade (HTTP 429: its address opened them too
    /// fast); it tries again 50 ms later.
    pub refused_connects: u64,
    /// Messages it wrote to its sockets.
    pub sent: u64,
    /// Messages acked `ok`: taken and delivered to the room. When the server closes a flooder it
    /// drops what was still queued for it, acks included, so the members' count of the
    /// flooder's messages can be higher.
    pub accepted: u64,
    /// Messages refused with `rate_limited`.
    pub refused: u64,
    /// Messages never answered: still in flight when the connection closed, and discarded.
    pub unanswered: u64,
    /// From its first message to its first refusal, in milliseconds.
    pub first_refused_ms: Option<f64>,
    /// From its first message to the server's first close, in milliseconds.
    pub first_closed_ms: Option<f64>,
    /// How its connections ended, by close code ("1008") or otherwise ("reset", "open at the
    /// end": still open when its time was up).
    pub endings: BTreeMap<String, u64>,
}

impl FlooderFate {
    /// One line for a table: "1 connection: 400 of 9,000 sent accepted, 201 refused; closed 1008
    /// after 12 ms".
    pub fn summary(&self) -> String {
        let endings = self
            .endings
            .iter()
            .map(|(how, n)| format!("{n} × {how}"))
            .collect::<Vec<_>>()
            .join(", ");
        let closed = self.first_closed_ms.map_or(String::new(), |ms| {
            format!("; first closed after {ms:.0} ms")
        });
        let refused_connects = match self.refused_connects {
            0 => String::new(),
            n => format!(" (and {n} refused with 429)"),
        };
        format!(
            "{} connection{}{refused_connects}: {} sent, {} acked ok, {} refused (`rate_limited`), \
             {} unanswered; ended: {endings}{closed}",
            self.connections,
            if self.connections == 1 { "" } else { "s" },
            self.sent,
            self.accepted,
            self.refused,
            self.unanswered
        )
    }
}

/// What the server said to one of the flooder's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Accepted,
    Refused,
    Other,
}

impl Default for Flooder {
    fn default() -> Self {
        Self::new("bench-flood")
    }
}

impl Flooder {
    /// A flooder of `room`: 100-byte texts, 64 frames per write, one connection, from 127.0.0.9.
    pub fn new(room: impl Into<String>) -> Self {
        Self {
            room: room.into(),
            text_bytes: 100,
            batch: 64,
            reconnect: false,
            source: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9)),
        }
    }

    /// Whether to connect again, at once, each time the server closes it.
    pub fn reconnect(mut self, reconnect: bool) -> Self {
        self.reconnect = reconnect;
        self
    }

    /// Whether it connects again when closed.
    pub fn reconnects(&self) -> bool {
        self.reconnect
    }

    /// The room it floods.
    pub fn room(mut self, room: impl Into<String>) -> Self {
        self.room = room.into();
        self
    }

    /// The length of each message's text, in bytes.
    pub fn text_bytes(mut self, text_bytes: usize) -> Self {
        self.text_bytes = text_bytes.max(1);
        self
    }

    /// The loopback address it connects from.
    pub fn source(mut self, source: IpAddr) -> Self {
        self.source = source;
        self
    }

    /// Floods `endpoint` (a Tether server) until `until`, or until the server closes it when it
    /// does not reconnect.
    pub async fn run(&self, endpoint: &Endpoint, until: Instant) -> Result<FlooderFate> {
        let mut fate = FlooderFate::default();
        // The time of the first message; set when the first connection has joined.
        let mut started: Option<Instant> = None;
        let mut next_id = 0u64;
        while Instant::now() < until {
            let connected = tokio::time::timeout(CONNECT_TIMEOUT, self.connect(endpoint))
                .await
                .context("the flooder's connect timed out")?;
            let socket = match connected {
                Ok(socket) => socket,
                Err(err) if self.reconnect && refused_for_rate(&err) => {
                    fate.refused_connects += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(err) => return Err(err.context("the flooder's connect")),
            };
            fate.connections += 1;
            let started = *started.get_or_insert_with(Instant::now);
            let ending = self
                .session(socket, until, started, &mut next_id, &mut fate)
                .await;
            *fate.endings.entry(ending).or_default() += 1;
            if !self.reconnect {
                break;
            }
        }
        Ok(fate)
    }

    async fn connect(&self, endpoint: &Endpoint) -> Result<Socket> {
        let server = endpoint.server();
        let socket = match self.source {
            IpAddr::V4(_) => TcpSocket::new_v4(),
            IpAddr::V6(_) => TcpSocket::new_v6(),
        }?;
        socket.bind(SocketAddr::new(self.source, 0))?;
        let stream = socket.connect(server).await?;
        stream.set_nodelay(true)?;
        let config = WebSocketConfig::default().write_buffer_size(64 * 1024);
        let (mut ws, _) =
            tokio_tungstenite::client_async_with_config(endpoint.url(), stream, Some(config))
                .await
                .context("the flooder's WebSocket handshake")?;
        let dialect = Dialect::Guide;
        ws.send(Message::text(dialect.join(&self.room))).await?;
        while let Some(message) = ws.next().await {
            if let Message::Text(text) = message? {
                match dialect.parse(&text) {
                    Incoming::Joined { .. } => return Ok(ws),
                    Incoming::Error => bail!("the flooder's join was refused: {text}"),
                    _ => {}
                }
            }
        }
        bail!("the server closed the flooder before it joined")
    }

    /// Floods over one connection until it ends or the time is up; says how it ended.
    async fn session(
        &self,
        socket: Socket,
        until: Instant,
        started: Instant,
        next_id: &mut u64,
        fate: &mut FlooderFate,
    ) -> String {
        let (mut sink, mut stream) = socket.split();
        let accepted = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        let ended = Arc::new(AtomicBool::new(false));
        let mut reader = {
            let (accepted, refused, ended) = (
                Arc::clone(&accepted),
                Arc::clone(&refused),
                Arc::clone(&ended),
            );
            tokio::spawn(async move {
                let mut first_refused = None;
                let ending = loop {
                    match stream.next().await {
                        Some(Ok(Message::Text(text))) => match answer(&text) {
                            Answer::Accepted => {
                                accepted.fetch_add(1, Ordering::Relaxed);
                            }
                            Answer::Refused => {
                                refused.fetch_add(1, Ordering::Relaxed);
                                first_refused.get_or_insert_with(Instant::now);
                            }
                            Answer::Other => {}
                        },
                        Some(Ok(Message::Close(frame))) => {
                            break frame
                                .map_or("1005".to_owned(), |f| u16::from(f.code).to_string());
                        }
                        Some(Ok(_)) => {}
                        Some(Err(_)) => break "reset".to_owned(),
                        None => break "dropped without a close".to_owned(),
                    }
                };
                ended.store(true, Ordering::Release);
                (ending, first_refused, Instant::now())
            })
        };
        let text = format!("f{}", "x".repeat(self.text_bytes - 1));
        let room = serde_json::to_string(&self.room).unwrap_or_default();
        let mut sent = 0u64;
        'flood: while Instant::now() < until && !ended.load(Ordering::Acquire) {
            for _ in 0..self.batch {
                let frame = format!(
                    r#"{{"type":"message","payload":{{"roomId":{room},"text":"{text}"}},"id":{next_id}}}"#
                );
                *next_id += 1;
                if sink.feed(Message::text(frame)).await.is_err() {
                    break 'flood;
                }
                sent += 1;
            }
            if sink.flush().await.is_err() {
                break;
            }
        }
        let out_of_time = Instant::now() >= until;
        // The server's last answers (or its close) are on their way; wait briefly for them.
        let read = tokio::time::timeout(
            if out_of_time {
                LAST_ANSWERS
            } else {
                CONNECT_TIMEOUT
            },
            &mut reader,
        )
        .await;
        if read.is_err() {
            reader.abort();
        }
        let ending = match read {
            Ok(Ok((ending, first_refused, closed_at))) => {
                let ms = |at: Instant| at.duration_since(started).as_secs_f64() * 1000.0;
                if let Some(at) = first_refused {
                    fate.first_refused_ms.get_or_insert(ms(at));
                }
                if ending.chars().all(|c| c.is_ascii_digit()) {
                    fate.first_closed_ms.get_or_insert(ms(closed_at));
                }
                ending
            }
            Ok(Err(_)) => "the reader panicked".to_owned(),
            Err(_) => "open at the end".to_owned(),
        };
        let (accepted, refused) = (
            accepted.load(Ordering::Relaxed),
            refused.load(Ordering::Relaxed),
        );
        fate.sent += sent;
        fate.accepted += accepted;
        fate.refused += refused;
        fate.unanswered += sent.saturating_sub(accepted + refused);
        let _ = tokio::time::timeout(LAST_ANSWERS, sink.close()).await;
        ending
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Whether a text frame from the server accepts or refuses one of the flooder's messages.
fn answer(text: &str) -> Answer {
    if !text.starts_with(r#"{"type":"ack""#) && !text.starts_with(r#"{"type":"error""#) {
        return Answer::Other;
    }
    if text.contains(r#""ok":true"#) {
        Answer::Accepted
    } else if text.contains(r#""code":"rate_limited""#) {
        Answer::Refused
    } else {
        Answer::Other
    }
}

/// Whether a connect failed because the server answered 429 (an address over its connection
/// rate or count).
fn refused_for_rate(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<tokio_tungstenite::tungstenite::Error>()
            .is_some_and(|e| {
                matches!(e, tokio_tungstenite::tungstenite::Error::Http(response)
                    if response.status().as_u16() == 429)
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_say_accepted_or_refused() {
        assert_eq!(
            answer(r#"{"type":"ack","payload":{"id":1,"ok":true}}"#),
            Answer::Accepted
        );
        assert_eq!(
            answer(
                r#"{"type":"ack","payload":{"id":9,"ok":false,"error":"too many messages: wait 20 ms","code":"rate_limited","retryAfterMs":20}}"#
            ),
            Answer::Refused
        );
        assert_eq!(
            answer(r#"{"type":"error","payload":{"message":"m","code":"rate_limited"}}"#),
            Answer::Refused
        );
        assert_eq!(
            answer(r#"{"type":"ack","payload":{"id":1,"ok":false,"code":"not_in_room"}}"#),
            Answer::Other
        );
        assert_eq!(
            answer(r#"{"type":"message","payload":{"text":"\"ok\":true"}}"#),
            Answer::Other
        );
    }

    #[test]
    fn the_summary_names_every_ending() {
        let mut fate = FlooderFate {
            connections: 2,
            sent: 900,
            accepted: 400,
            refused: 402,
            unanswered: 98,
            first_refused_ms: Some(3.0),
            first_closed_ms: Some(12.4),
            ..FlooderFate::default()
        };
        fate.endings.insert("1008".into(), 2);
        let line = fate.summary();
        assert!(
            line.starts_with("2 connections: 900 sent, 400 acked ok"),
            "{line}"
        );
        assert!(
            line.ends_with("ended: 2 × 1008; first closed after 12 ms"),
            "{line}"
        );
    }
}
