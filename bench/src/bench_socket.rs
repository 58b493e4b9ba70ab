//! One generator connection: the protocol handshake, joining, receiving and sending.

use crate::{Dialect, Incoming};
use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::{net::TcpStream, sync::watch};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message, Utf8Bytes},
};

/// How long a closing connection waits for the server's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// The error [`BenchSocket::recv`] fails with when the server sends a close frame: its code (none
/// when the frame had none) and its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerClosed {
    /// The close code.
    pub code: Option<u16>,
    /// The close reason.
    pub reason: String,
}

impl std::fmt::Display for ServerClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(code) => write!(f, "the server closed the connection with {code}")?,
            None => write!(f, "the server closed the connection without a code")?,
        }
        if !self.reason.is_empty() {
            write!(f, " ({})", self.reason)?;
        }
        Ok(())
    }
}

impl std::error::Error for ServerClosed {}

/// A WebSocket to a server under test, speaking its [`Dialect`].
///
/// Engine.IO pings are answered inside [`recv`](Self::recv), and WebSocket pings by tungstenite,
/// so a connection stays alive as long as someone reads from it.
#[derive(Debug)]
pub struct BenchSocket {
    ws: WebSocketStream<TcpStream>,
    dialect: Dialect,
}

impl BenchSocket {
    /// Wraps a connected WebSocket; [`Endpoint::connect`](crate::Endpoint::connect) also runs
    /// the [`handshake`](Self::handshake).
    pub fn new(ws: WebSocketStream<TcpStream>, dialect: Dialect) -> Self {
        Self { ws, dialect }
    }

    /// The protocol this connection speaks.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Waits for the server's greeting: `connected` (guide), or Engine.IO's open packet followed
    /// by the namespace's connect (Socket.IO).
    pub async fn handshake(&mut self) -> Result<()> {
        if self.dialect == Dialect::SocketIo {
            let open = self.recv().await?;
            if self.dialect.parse(&open) != Incoming::Open {
                bail!("expected Engine.IO's open packet, got {open}");
            }
            self.send(Dialect::SOCKET_IO_CONNECT.to_owned()).await?;
        }
        loop {
            let text = self.recv().await?;
            match self.dialect.parse(&text) {
                Incoming::Connected => return Ok(()),
                Incoming::Error => bail!("the server refused the connection: {text}"),
                _ => {}
            }
        }
    }

    /// Joins `room` and waits for `joined`; returns the room's size the server reported.
    pub async fn join(&mut self, room: &str) -> Result<usize> {
        self.send(self.dialect.join(room)).await?;
        loop {
            let text = self.recv().await?;
            match self.dialect.parse(&text) {
                Incoming::Joined { members } => return Ok(members),
                Incoming::Error => bail!("join refused: {text}"),
                _ => {}
            }
        }
    }

    /// The next text frame from the server. Answers Engine.IO pings on the way; fails when the
    /// server closes or drops the connection. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Utf8Bytes> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    if self.dialect == Dialect::SocketIo && text == "2" {
                        self.send(Dialect::ENGINE_IO_PONG.to_owned()).await?;
                        continue;
                    }
                    return Ok(text);
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(ServerClosed {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    }
                    .into());
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(err).context("reading from the server"),
                None => bail!("the server dropped the connection"),
            }
        }
    }

    /// Sends one text frame and flushes it.
    pub async fn send(&mut self, text: String) -> Result<()> {
        self.ws
            .send(Message::text(text))
            .await
            .context("sending to the server")
    }

    /// Queues one text frame without flushing, so that several go out in one write.
    pub async fn feed(&mut self, text: String) -> Result<()> {
        self.ws
            .feed(Message::text(text))
            .await
            .context("sending to the server")
    }

    /// Writes out what [`feed`](Self::feed) queued.
    pub async fn flush(&mut self) -> Result<()> {
        self.ws.flush().await.context("sending to the server")
    }

    /// Keeps the connection open, reading (and answering pings), until `stop` turns true. Fails
    /// when the server ends the connection first.
    pub async fn hold(&mut self, stop: &mut watch::Receiver<bool>) -> Result<()> {
        loop {
            tokio::select! {
                changed = async { stop.wait_for(|stop| *stop).await.map(drop) } => {
                    changed.context("the run was abandoned")?;
                    return Ok(());
                }
                text = self.recv() => { text?; }
            }
        }
    }

    /// Ends the connection as a lost network would: no close frame, and a TCP reset instead of
    /// a FIN (`SO_LINGER` 0), so that whatever the server had in flight to it is discarded.
    pub fn abort(self) {
        // If the option cannot be set, dropping the socket still ends it, with a FIN.
        let _ = self.ws.get_ref().set_zero_linger();
    }

    /// Sends a close frame and waits briefly for the server's; errors are ignored, as the
    /// connection is over either way.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            let _ = self.ws.close(None).await;
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}
