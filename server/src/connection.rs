//! The task that drives one WebSocket: reads, batched writes, heartbeat and closing.

use crate::{Config, Frame, Metrics, Session, fault::Fault};
use axum::extract::ws::{CloseFrame, Message};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use std::{collections::VecDeque, sync::Arc, time::Duration};
use tether_protocol::CloseCode;
use tokio::time::{Instant, MissedTickBehavior, interval_at, timeout};

/// How long the server waits for a client's answer to its close frame, when it waits at all.
const CLOSE_REPLY_WAIT: Duration = Duration::from_secs(1);

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The client closed, or its TCP connection went away.
    ClientClosed,
    /// The server is shutting down (closed with 1001).
    Shutdown,
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
    /// Reading or writing failed at the transport level.
    Broken,
    /// A test asked for this close code (`--test-mode` only).
    TestFault(u16),
}

/// Runs one connection until it ends, then closes it with the code the ending calls for.
///
/// One task does everything, which keeps an idle connection to a single task and no channel:
/// it waits on the socket, on its outbox, on the heartbeat timer and on its kill token at once.
/// Writes are batched: everything queued since the last write goes out with one flush.
///
/// Generic over the socket so the same code runs on axum's `WebSocket` and on anything else that
/// speaks axum's `Message`.
pub async fn run<S>(
    mut socket: S,
    mut session: Session,
    config: &Config,
    metrics: &Metrics,
    fault: Fault,
) -> Ending
where
    S: Stream<Item = Result<Message, axum::Error>>
        + Sink<Message, Error = axum::Error>
        + Unpin
        + Send,
{
    let peer = Arc::clone(session.peer());
    let outbox = peer.outbox();
    let kill = outbox.kill_token().clone();
    let period = config.heartbeat_interval;
    let mut heartbeat = interval_at(Instant::now() + period, period);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The guide's isAlive: set by every pong, cleared by every ping.
    let mut alive = true;
    // Batches written so far; test faults act after the first (`connected`).
    let mut batches = 0u64;
    // The batch being written lives out here, not in the write future: if shutdown interrupts a
    // write blocked on a full socket, what was not yet handed to the socket is still here, in
    // order, for the drain.
    let mut writing: VecDeque<Frame> = VecDeque::new();

    let ending = loop {
        // Not `biased`: in a busy room the outbox is ready on nearly every turn, and polling it
        // first would starve reads, pongs included, until the heartbeat killed a healthy client.
        tokio::select! {
            () = kill.cancelled() => break killed(outbox.overflowed()),
            () = outbox.ready() => {
                writing = outbox.take();
                if fault == Fault::Mute && batches > 0 {
                    writing.clear();
                    continue;
                }
                batches += 1;
                tokio::select! {
                    biased;
                    () = kill.cancelled() => break killed(outbox.overflowed()),
                    written = timeout(config.write_timeout, write_batch(&mut socket, &mut writing)) => match written {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => break Ending::Broken,
                        Err(_) => break Ending::SlowConsumer,
                    },
                }
                if let Fault::Close(code) = fault {
                    break Ending::TestFault(code);
                }
            }
            incoming = socket.next() => match incoming {
                Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) if fault == Fault::Echo => {
                    if socket.send(message).await.is_err() {
                        break Ending::Broken;
                    }
                }
                Some(Ok(Message::Text(text))) => session.handle_text(text.as_str()),
                Some(Ok(Message::Binary(bytes))) => session.handle_binary(&bytes),
                Some(Ok(Message::Pong(_))) => alive = true,
                // Tungstenite answers pings by itself.
                Some(Ok(Message::Ping(_))) => {}
                Some(Ok(Message::Close(_))) | None => break Ending::ClientClosed,
                Some(Err(err)) => break classify(err),
            },
            _ = heartbeat.tick() => {
                if !alive {
                    break Ending::HeartbeatTimeout;
                }
                alive = false;
                match timeout(config.write_timeout, socket.send(Message::Ping(Default::default()))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => break Ending::Broken,
                    Err(_) => break Ending::SlowConsumer,
                }
            }
        }
    };

    // Leave the rooms (the session's drop tells their members) before spending up to a few
    // seconds on the close handshake, so the others hear of it at once.
    drop(session);
    match ending {
        Ending::ClientClosed => {
            // Let tungstenite send its reply to the client's close frame.
            let _ = timeout(CLOSE_REPLY_WAIT, socket.close()).await;
        }
        Ending::Shutdown => {
            // Drain: deliver the rest of an interrupted batch and what is queued behind it, in
            // order, then close and wait for the client's answer.
            writing.append(&mut outbox.take());
            let _ = timeout(config.write_timeout, write_batch(&mut socket, &mut writing)).await;
            close(
                &mut socket,
                CloseCode::GOING_AWAY,
                "server shutting down",
                true,
            )
            .await;
        }
        Ending::SlowConsumer => {
            metrics.slow_consumer_closes.inc();
            close(
                &mut socket,
                CloseCode::TRY_AGAIN_LATER,
                "slow consumer",
                false,
            )
            .await;
        }
        Ending::TooBig => {
            close(
                &mut socket,
                CloseCode::MESSAGE_TOO_BIG,
                "message too big",
                false,
            )
            .await;
        }
        Ending::InvalidUtf8 => {
            close(
                &mut socket,
                CloseCode::INVALID_PAYLOAD,
                "invalid UTF-8",
                false,
            )
            .await;
        }
        Ending::ProtocolError => {
            close(
                &mut socket,
                CloseCode::PROTOCOL_ERROR,
                "protocol error",
                false,
            )
            .await;
        }
        Ending::TestFault(code) => {
            close(&mut socket, CloseCode(code), "test fault", true).await;
        }
        // As the guide's `ws.terminate()`: a client that does not answer pings gets no close frame.
        Ending::HeartbeatTimeout | Ending::Broken => {}
    }
    ending
}

fn killed(overflowed: bool) -> Ending {
    if overflowed {
        Ending::SlowConsumer
    } else {
        Ending::Shutdown
    }
}

/// Writes a batch of frames and flushes once. A frame leaves `batch` only once the socket has
/// taken it, so if this future is dropped midway, `batch` holds exactly what was not sent.
async fn write_batch<S>(socket: &mut S, batch: &mut VecDeque<Frame>) -> Result<(), axum::Error>
where
    S: Sink<Message, Error = axum::Error> + Unpin,
{
    while let Some(frame) = batch.front() {
        // `feed` hands the message over in the same poll that completes it, so there is no
        // point at which it was taken but is still in `batch`.
        socket.feed(Message::Text(frame.text())).await?;
        batch.pop_front();
    }
    socket.flush().await
}

/// Sends a close frame, and, when `wait`, waits briefly for the client's answer.
async fn close<S>(socket: &mut S, code: CloseCode, reason: &'static str, wait: bool)
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin,
{
    let frame = CloseFrame {
        code: code.0,
        reason: reason.into(),
    };
    if timeout(CLOSE_REPLY_WAIT, socket.send(Message::Close(Some(frame))))
        .await
        .is_err()
        || !wait
    {
        return;
    }
    let _ = timeout(CLOSE_REPLY_WAIT, async {
        while let Some(Ok(message)) = socket.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Maps a read error to the ending (and close code) it calls for.
fn classify(err: axum::Error) -> Ending {
    use tungstenite::error::{CapacityError, Error};
    match err.into_inner().downcast::<Error>() {
        Ok(err) => match *err {
            Error::Capacity(CapacityError::MessageTooLong { .. }) => Ending::TooBig,
            Error::Utf8(_) => Ending::InvalidUtf8,
            Error::Protocol(_) => Ending::ProtocolError,
            _ => Ending::Broken,
        },
        Err(_) => Ending::Broken,
    }
}
