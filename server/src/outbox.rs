//! The bounded queue of messages waiting to be written to one client.

use crate::Frame;
use std::{collections::VecDeque, sync::Mutex};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// What happened to a frame handed to [`Outbox::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Queued for writing.
    Queued,
    /// Dropped because the queue is filling up and the frame was droppable (a typing notice).
    Dropped,
    /// The queue overflowed with this frame: the client is a slow consumer and is being closed.
    Overflowed,
    /// The client is already closing; nothing more is queued for it.
    Closed,
}

/// A per-connection queue of outgoing frames, bounded in bytes.
///
/// Publishers never wait on a slow client: they push and move on. The connection task takes the
/// whole queue at once and writes it as one batch, so the queue holds no allocation while the
/// client is idle. Under pressure, typing notices go first (they are refused once the queue is half
/// full, and evicted when a real message needs room); a client that still cannot keep up is
/// cancelled, and its connection closes with 1013. Memory per client is thus bounded by the limit
/// for what is queued, plus at most one batch already taken for writing.
#[derive(Debug)]
pub struct Outbox {
    // A std mutex: every critical section is a few pointer moves and never spans an `.await`.
    state: Mutex<State>,
    // Wakes the connection task when the queue goes from empty to non-empty. `Notify` keeps a
    // permit when nobody waits, so a push between two waits is never lost.
    ready: Notify,
    // Cancelled when the queue overflows; a child of the server's shutdown token, so it is also
    // cancelled on shutdown. The connection task watches it even while blocked in a write.
    kill: CancellationToken,
    limit: usize,
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Frame>,
    bytes: usize,
    overflowed: bool,
    // Set when a newer connection of the same client took over.
    replaced: bool,
    // Set by the connection once it stops writing; checked on every push, so a flag under the
    // lock already held rather than the kill token, whose check takes a lock of its own.
    closed: bool,
}

impl Outbox {
    /// An empty outbox holding at most `limit` bytes, cancelled with `kill`.
    pub fn new(limit: usize, kill: CancellationToken) -> Self {
        Self {
            state: Mutex::new(State::default()),
            ready: Notify::new(),
            kill,
            limit,
        }
    }

    /// Queues a frame for writing, unless the client is closing or cannot keep up.
    pub fn push(&self, frame: Frame) -> Push {
        let len = frame.len();
        let mut state = self.lock();
        if state.overflowed || state.closed || state.replaced {
            return Push::Closed;
        }
        if frame.is_droppable() && state.bytes + len > self.limit / 2 {
            return Push::Dropped;
        }
        if state.bytes + len > self.limit {
            // Make room by evicting what may be missed before giving up on the client.
            state.frames.retain(|f| !f.is_droppable());
            state.bytes = state.frames.iter().map(Frame::len).sum();
            if state.bytes + len > self.limit {
                state.overflowed = true;
                // Free the backlog now: it will never be written.
                state.frames = VecDeque::new();
                state.bytes = 0;
                drop(state);
                self.kill.cancel();
                return Push::Overflowed;
            }
        }
        let was_empty = state.frames.is_empty();
        state.frames.push_back(frame);
        state.bytes += len;
        drop(state);
        if was_empty {
            self.ready.notify_one();
        }
        Push::Queued
    }

    /// The most bytes it queues.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Gives up on the client as a slow consumer: what is queued is dropped and the connection
    /// closes with 1013, as when a push overflows.
    pub fn give_up(&self) {
        let mut state = self.lock();
        state.overflowed = true;
        state.frames = VecDeque::new();
        state.bytes = 0;
        drop(state);
        self.kill.cancel();
    }

    /// Waits until there is something to write.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// Takes everything queued, leaving the queue empty and unallocated.
    pub fn take(&self) -> VecDeque<Frame> {
        let mut state = self.lock();
        state.bytes = 0;
        std::mem::take(&mut state.frames)
    }

    /// Refuses every later push: the connection is ending. What is queued stays, for a final
    /// drain.
    pub fn close(&self) {
        self.lock().closed = true;
    }

    /// Ends the connection because a newer one of the same client took over; what is queued is
    /// dropped (the newer connection catches up by itself).
    pub fn replace(&self) {
        let mut state = self.lock();
        state.replaced = true;
        state.frames = VecDeque::new();
        state.bytes = 0;
        drop(state);
        self.kill.cancel();
    }

    /// Whether a newer connection of the same client took over.
    pub fn replaced(&self) -> bool {
        self.lock().replaced
    }

    /// Whether the client was given up on as a slow consumer.
    pub fn overflowed(&self) -> bool {
        self.lock().overflowed
    }

    /// The token that cancels this client's connection.
    pub fn kill_token(&self) -> &CancellationToken {
        &self.kill
    }

    /// Bytes currently queued.
    pub fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the queue inconsistent (every update is a
        // single move or sum), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_protocol::{ServerMessage, Typing};

    fn text(n: usize) -> Frame {
        Frame::encode(&ServerMessage::Error(tether_protocol::ErrorPayload {
            message: "x".repeat(n),
            code: None,
            retry_after_ms: None,
        }))
    }

    fn typing() -> Frame {
        Frame::encode(&ServerMessage::Typing(Typing {
            user_id: "u".into(),
            room_id: "r".into(),
            name: None,
        }))
        .droppable()
    }

    #[test]
    fn queues_until_the_limit_then_overflows_and_cancels() {
        let outbox = Outbox::new(1000, CancellationToken::new());
        let frame = text(100);
        let per = frame.len();
        let fits = 1000 / per;
        for _ in 0..fits {
            assert_eq!(outbox.push(frame.clone()), Push::Queued);
        }
        assert_eq!(outbox.queued_bytes(), fits * per);
        assert_eq!(outbox.push(frame.clone()), Push::Overflowed);
        assert!(outbox.overflowed());
        assert!(outbox.kill_token().is_cancelled());
        assert_eq!(outbox.queued_bytes(), 0, "the backlog is freed at once");
        assert_eq!(outbox.push(frame), Push::Closed);
    }

    #[test]
    fn typing_is_refused_once_half_full() {
        let outbox = Outbox::new(1000, CancellationToken::new());
        assert_eq!(outbox.push(typing()), Push::Queued);
        while outbox.queued_bytes() + typing().len() <= 500 {
            assert_eq!(outbox.push(text(10)), Push::Queued);
        }
        assert_eq!(outbox.push(typing()), Push::Dropped);
        assert!(!outbox.overflowed());
    }

    #[test]
    fn typing_is_evicted_to_make_room_for_messages() {
        let outbox = Outbox::new(1000, CancellationToken::new());
        let t = typing();
        let mut typed = 0;
        while outbox.queued_bytes() + t.len() <= 500 {
            outbox.push(t.clone());
            typed += 1;
        }
        assert!(typed > 1);
        // A message that fits only once the typing notices are gone.
        let big = text(1000 - t.len() - 40);
        assert!(outbox.queued_bytes() + big.len() > 1000);
        assert_eq!(outbox.push(big), Push::Queued);
        assert!(outbox.take().iter().all(|f| !f.is_droppable()));
    }

    #[test]
    fn take_empties_and_releases_the_queue() {
        let outbox = Outbox::new(1000, CancellationToken::new());
        outbox.push(text(1));
        outbox.push(text(2));
        assert_eq!(outbox.take().len(), 2);
        assert_eq!(outbox.queued_bytes(), 0);
        assert_eq!(outbox.lock().frames.capacity(), 0);
    }

    #[test]
    fn a_closed_outbox_takes_nothing_more_but_keeps_what_it_has() {
        let outbox = Outbox::new(1000, CancellationToken::new());
        assert_eq!(outbox.push(text(1)), Push::Queued);
        outbox.close();
        assert_eq!(outbox.push(text(1)), Push::Closed);
        assert_eq!(outbox.take().len(), 1, "kept for the drain");
    }

    #[tokio::test]
    async fn a_push_before_waiting_is_not_lost() {
        let outbox = Outbox::new(1000, CancellationToken::new());
        outbox.push(text(1));
        tokio::time::timeout(std::time::Duration::from_secs(1), outbox.ready())
            .await
            .expect("woken by the earlier push");
    }
}
