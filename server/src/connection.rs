//! The task that drives one WebSocket: reads, batched writes, heartbeat and closing.

use crate::{
    Config, Metrics, Outbox, Peer, Session, WriteBatch,
    outbox::{Mail, Stop},
    session::Verdict,
};
use futures_util::{FutureExt, SinkExt, StreamExt};
use std::{sync::Arc, time::Duration};
use tether_protocol::CloseCode;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    time::timeout,
};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{
        self, Message,
        protocol::{CloseFrame, frame::coding::CloseCode as WsCloseCode},
    },
};

/// How long the server waits, after sending its close frame, for the client to close its side.
const CLOSE_REPLY_WAIT: Duration = Duration::from_secs(1);

/// The most bytes read and discarded while waiting for a closed client to hang up.
const CLOSE_DRAIN_LIMIT: usize = 1 << 20;

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The client closed, or its TCP connection went away.
    ClientClosed,
    /// The server is shutting down (closed with 1001).
    Shutdown,
    /// A room of the client's lost its history (closed with 1001: it resumes, and is told).
    HistoryLost,
    /// The client could not keep up with its messages (closed with 1013).
    SlowConsumer,
    /// The client did not answer a ping in time (terminated without a close frame).
    HeartbeatTimeout,
    /// The client sent a message over the size limit (closed with 1009).
    TooBig,
    /// The client sent a text frame that is not UTF-8 (closed with 1007).
    InvalidUtf8,
    /// The client broke the WebSocket protocol (closed with 1002).
    ProtocolError,
    /// The client kept sending faster than its rate after being refused (closed with 1008).
    Flood,
    /// A newer connection of the same client (its resume token) took over (closed with 4001).
    Replaced,
    /// Reading or writing failed at the transport level.
    Broken,
    /// The connection's token expired with no `refresh` (closed with 4419).
    TokenExpired,
}

/// Runs one connection until it ends, then closes it with the code the ending calls for.
///
/// One task does everything, and waits on two things only: the socket and the peer's outbox,
/// which brings the frames to write, the server's heartbeat and any order to end (a slow
/// consumer, a newer connection of the client, shutdown). An idle connection is thus one task,
/// with no timer and no channel of its own.
///
/// Reading, and the control frames (pongs, pings, closes), go through tungstenite. The chat's
/// frames do not: everything queued since the last write goes out as one [`WriteBatch`], its
/// frames (each encoded once for all recipients) written straight to the transport with vectored
/// writes. Tungstenite's own writes are flushed before a batch starts, and none happen while one
/// is being written (the loop does one thing at a time), so the two never interleave.
///
/// Generic over the transport so the same code runs on an upgraded HTTP connection and on any
/// other byte stream, such as an in-memory pipe in tests.
///
/// The future is kept small, because every idle connection holds one: the socket is borrowed
/// (its owner holds it once), and what is rare or short-lived (the heartbeat's ping, a write to
/// a full socket, the closing sequence) is boxed for as long as it runs instead of reserving room
/// in the state machine for the connection's whole life.
pub async fn run<T>(
    socket: &mut WebSocketStream<T>,
    mut session: Session,
    config: &Config,
    metrics: &Metrics,
) -> Ending
where
    T: AsyncRead + AsyncWrite + Unpin + Send,
{
    let peer = Arc::clone(session.peer());
    let outbox = peer.outbox();
    // The guide's isAlive: set by every pong, cleared by every ping.
    let mut alive = true;
    // The batch being written lives out here, not in the write future: if shutdown interrupts a
    // write blocked on a full socket, what was not yet handed to the socket is still here, in
    // order, for the drain.
    let mut writing = WriteBatch::new();

    let ending = loop {
        // Not `biased`: in a busy room the outbox is ready on nearly every turn, and polling it
        // first would starve reads, pongs included, until the heartbeat killed a healthy client.
        tokio::select! {
            () = outbox.ready() => {
                let Mail { frames, beat, stop } = outbox.collect();
                writing.extend(frames);
                if let Some(stop) = stop {
                    break stopped(stop);
                }
                // Most batches fit in the socket's buffer and are written in one go: try that
                // first, without arming a timer (each costs a trip through tokio's timer wheel).
                // Only a write that has to wait gets the write timeout and watches for a stop;
                // what the first attempt wrote is already out of `writing`.
                // (A statement of its own: as a `match` scrutinee, the write's future would
                // live to the end of the match, across the wait below, in every connection's
                // future.)
                let first = write_batch(socket, &mut writing).now_or_never();
                let written = match first {
                    Some(written) => written.map_err(|_| Ending::Broken),
                    // Boxed: a full socket is rare, and its timer and write are kept out of
                    // every connection's future.
                    None => Box::pin(unless_stopped(
                        outbox,
                        timeout(config.write_timeout, write_batch(socket, &mut writing)),
                    ))
                    .await
                    .map_err(stopped)
                    .and_then(|written| match written {
                        Ok(written) => written.map_err(|_| Ending::Broken),
                        Err(_) => Err(Ending::SlowConsumer),
                    }),
                };
                if let Err(ending) = written {
                    break ending;
                }
                if beat {
                    if !alive {
                        break Ending::HeartbeatTimeout;
                    }
                    if session.token_expired() {
                        break Ending::TokenExpired;
                    }
                    alive = false;
                    let ping = timeout(config.write_timeout, socket.send(Message::Ping(Default::default())));
                    match Box::pin(ping).await {
                        Ok(Ok(())) => {}
                        // Control frames are piling up for a client that does not read.
                        Ok(Err(tungstenite::Error::WriteBufferFull(_))) | Err(_) => {
                            break Ending::SlowConsumer;
                        }
                        Ok(Err(_)) => break Ending::Broken,
                    }
                }
            }
            incoming = socket.next() => {
                let verdict = match incoming {
                    Some(Ok(Message::Text(text))) => session.handle_text(text.as_str()),
                    Some(Ok(Message::Binary(bytes))) => session.handle_binary(&bytes),
                    Some(Ok(Message::Pong(_))) => {
                        alive = true;
                        session.handle_control()
                    }
                    // Tungstenite answers pings by itself (coalescing the pongs of a client that
                    // does not read); the ping still counts against the client's rate.
                    Some(Ok(Message::Ping(_))) => session.handle_control(),
                    // Never yielded when reading.
                    Some(Ok(Message::Frame(_))) => Verdict::Continue,
                    Some(Ok(Message::Close(_))) | None => break Ending::ClientClosed,
                    Some(Err(err)) => break classify(err),
                };
                if verdict == Verdict::Flood {
                    break Ending::Flood;
                }
                if session.waiting() {
                    // A join whose store must be asked first (Redis): nothing else the client
                    // sent is read meanwhile, so its messages are handled in order. Boxed: rare,
                    // and kept out of every connection's future.
                    Box::pin(session.settle()).await;
                }
            },
        }
    };

    // Nothing more is queued for this client; then leave the rooms (the session's drop tells
    // their members) before spending up to a few seconds on the close handshake, so the others
    // hear of it at once.
    outbox.close();
    drop(session);
    Box::pin(finish(socket, ending, writing, &peer, config, metrics)).await;
    ending
}

/// Closes the connection with the code `ending` calls for, after delivering what is owed.
async fn finish<T>(
    socket: &mut WebSocketStream<T>,
    ending: Ending,
    mut writing: WriteBatch,
    peer: &Peer,
    config: &Config,
    metrics: &Metrics,
) where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let socket = &mut *socket;
    let (code, reason) = match ending {
        Ending::ClientClosed => {
            // Let tungstenite send its reply to the client's close frame (the sink's close
            // flushes the reply it queued; `WebSocketStream::close` would try to send another).
            let _ = timeout(CLOSE_REPLY_WAIT, SinkExt::close(socket)).await;
            return;
        }
        // As the guide's `ws.terminate()`: a client that does not answer pings gets no close frame.
        Ending::HeartbeatTimeout | Ending::Broken => return,
        Ending::Shutdown | Ending::HistoryLost => {
            // Drain: deliver the rest of an interrupted batch and what is queued behind it, in
            // order, then close.
            writing.extend(peer.outbox().take());
            let reason = match ending {
                Ending::Shutdown => "server shutting down",
                _ => "room history lost",
            };
            (CloseCode::GOING_AWAY, reason)
        }
        Ending::SlowConsumer => {
            metrics.slow_consumer_closes.inc();
            // What was queued is given up, but a frame already begun must be finished, or the
            // close frame would land inside it and the client would read garbage, not 1013.
            writing.keep_partial_frame();
            (CloseCode::TRY_AGAIN_LATER, "slow consumer")
        }
        Ending::Flood => {
            metrics.flood_closes.inc();
            writing.keep_partial_frame();
            (CloseCode::POLICY_VIOLATION, "rate limit exceeded")
        }
        Ending::Replaced => {
            writing.keep_partial_frame();
            (CloseCode::REPLACED, "replaced by a newer connection")
        }
        Ending::TokenExpired => {
            writing.keep_partial_frame();
            (CloseCode::TOKEN_EXPIRED, "token expired")
        }
        Ending::TooBig => (CloseCode::MESSAGE_TOO_BIG, "message too big"),
        Ending::InvalidUtf8 => (CloseCode::INVALID_PAYLOAD, "invalid UTF-8"),
        Ending::ProtocolError => (CloseCode::PROTOCOL_ERROR, "protocol error"),
    };
    let frame = CloseFrame {
        code: WsCloseCode::from(code.0),
        reason: reason.into(),
    };
    // A slow reader needs time to reach the close frame: as long as one write may stall.
    let sent = timeout(config.write_timeout, async {
        write_batch(socket, &mut writing).await?;
        socket.send(Message::Close(Some(frame))).await
    })
    .await;
    if matches!(sent, Ok(Ok(()))) {
        hang_up(socket.get_mut()).await;
    }
}

/// Closes a connection that is not let in (its token was refused) with `code`, before anything
/// else is sent.
pub async fn refuse<T>(
    socket: &mut WebSocketStream<T>,
    code: CloseCode,
    reason: &str,
    config: &Config,
) where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code: WsCloseCode::from(code.0),
        reason: reason.into(),
    };
    let sent = timeout(
        config.write_timeout,
        socket.send(Message::Close(Some(frame))),
    )
    .await;
    if matches!(sent, Ok(Ok(()))) {
        hang_up(socket.get_mut()).await;
    }
}

/// Ends the TCP connection after the close frame: sends FIN, then reads and discards what the
/// client still sends (its close frame) until it hangs up too, for a moment at most. Dropping a
/// socket with unread data makes the kernel reset the connection, and a reset can destroy what
/// the client has not read yet, the close frame included.
async fn hang_up<T: AsyncRead + AsyncWrite + Unpin>(io: &mut T) {
    let _ = timeout(CLOSE_REPLY_WAIT, async {
        io.shutdown().await?;
        let mut sink = [0u8; 512];
        let mut drained = 0;
        while drained < CLOSE_DRAIN_LIMIT {
            match io.read(&mut sink).await? {
                0 => break,
                n => drained += n,
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// The ending an order to stop calls for.
fn stopped(stop: Stop) -> Ending {
    match stop {
        Stop::SlowConsumer => Ending::SlowConsumer,
        Stop::Replaced => Ending::Replaced,
        Stop::GoingAway => Ending::Shutdown,
        Stop::HistoryLost => Ending::HistoryLost,
    }
}

/// Runs `work` (a write waiting on a full socket) unless the outbox is told to stop first. The
/// outbox's other news (frames queued meanwhile, a beat) is left for the connection's loop, which
/// is woken for it again once `work` is done.
async fn unless_stopped<F: Future>(outbox: &Outbox, work: F) -> Result<F::Output, Stop> {
    let mut work = std::pin::pin!(work);
    let mut woken = false;
    let result = loop {
        tokio::select! {
            biased;
            () = outbox.ready() => match outbox.stopped() {
                Some(stop) => break Err(stop),
                None => woken = true,
            },
            done = &mut work => break Ok(done),
        }
    };
    if woken {
        outbox.wake();
    }
    result
}

/// Writes a batch of frames and flushes once, after whatever tungstenite still holds (a pong, say),
/// so that frames never interleave on the wire.
async fn write_batch<T>(
    socket: &mut WebSocketStream<T>,
    batch: &mut WriteBatch,
) -> Result<(), tungstenite::Error>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    socket.flush().await?;
    batch.write_to(socket.get_mut()).await?;
    Ok(())
}

/// Maps a read error to the ending (and close code) it calls for.
fn classify(err: tungstenite::Error) -> Ending {
    use tungstenite::error::{CapacityError, Error};
    match err {
        Error::Capacity(CapacityError::MessageTooLong { .. }) => Ending::TooBig,
        Error::Utf8(_) => Ending::InvalidUtf8,
        Error::Protocol(_) => Ending::ProtocolError,
        Error::Io(err) if crate::frame_guard::is_bad_length(&err) => Ending::ProtocolError,
        _ => Ending::Broken,
    }
}
