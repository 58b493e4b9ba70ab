//! The bounded queue of messages waiting to be written to one client.

use crate::Frame;
use std::{collections::VecDeque, sync::Mutex};
use tokio::sync::Notify;

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

/// Why a connection is told to end by someone other than its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The client could not keep up: what was queued is dropped (closed with 1013).
    SlowConsumer,
    /// A newer connection of the same client took over: what was queued is dropped (4001).
    Replaced,
    /// The server is shutting down: what was queued is still delivered, then the connection
    /// closes with 1001.
    GoingAway,
    /// A room of the client's lost its history (Redis lost it): what was queued is still
    /// delivered, then the connection closes with 1001, and the client's resume is told.
    HistoryLost,
}

/// What the connection task finds when its outbox wakes it: see [`Outbox::collect`].
#[derive(Debug, Default)]
pub struct Mail {
    /// Everything queued, in order.
    pub frames: VecDeque<Frame>,
    /// The server's heartbeat ticked since the last look.
    pub beat: bool,
    /// The connection must end.
    pub stop: Option<Stop>,
}

/// A per-connection queue of outgoing frames, bounded in bytes, and the one thing besides its
/// socket that a connection task waits on.
///
/// Publishers never wait on a slow client: they push and move on. The connection task takes the
/// whole queue at once and writes it as one batch, so the queue holds no allocation while the
/// client is idle. Under pressure, typing notices go first (they are refused once the queue is half
/// full, and evicted when a real message needs room); a client that still cannot keep up is
/// stopped, and its connection closes with 1013. Memory per client is thus bounded by the limit
/// for what is queued, plus at most one batch already taken for writing.
///
/// The rest of what a connection is told comes the same way, as flags beside the queue: the
/// server's heartbeat ([`beat`](Self::beat)) and the orders to end ([`Stop`]). So an idle
/// connection holds no timer and no cancellation token of its own, only this.
#[derive(Debug)]
pub struct Outbox {
    // A std mutex: every critical section is a few pointer moves and never spans an `.await`.
    state: Mutex<State>,
    // Wakes the connection task when the queue goes from empty to non-empty, on a beat and on a
    // stop. `Notify` keeps a permit when nobody waits, so a wake between two waits is never lost.
    ready: Notify,
    limit: usize,
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Frame>,
    bytes: usize,
    beat: bool,
    // The first order to end; later ones change nothing.
    stop: Option<Stop>,
    // Set by the connection once it stops writing.
    closed: bool,
}

impl State {
    /// Whether a push is refused: the connection stopped writing, or what it had queued was
    /// dropped for good.
    fn refuses(&self) -> bool {
        self.closed || matches!(self.stop, Some(Stop::SlowConsumer | Stop::Replaced))
    }
}

impl Outbox {
    /// An empty outbox holding at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            ready: Notify::new(),
            limit,
        }
    }

    /// Queues a frame for writing, unless the client is closing or cannot keep up.
    pub fn push(&self, frame: Frame) -> Push {
        let len = frame.len();
        let mut state = self.lock();
        if state.refuses() {
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
                drop(state);
                self.stop(Stop::SlowConsumer);
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

    /// Tells the connection to end for `stop`, unless it was told already. A stop that gives up
    /// on the client frees the queue at once: it will never be written.
    pub fn stop(&self, stop: Stop) {
        let mut state = self.lock();
        if state.stop.is_some() {
            return;
        }
        state.stop = Some(stop);
        if state.refuses() {
            state.frames = VecDeque::new();
            state.bytes = 0;
        }
        drop(state);
        self.ready.notify_one();
    }

    /// The server's heartbeat ticked: the connection pings its client, or ends it if the last
    /// ping went unanswered.
    pub fn beat(&self) {
        self.lock().beat = true;
        self.ready.notify_one();
    }

    /// Waits until there is something to look at: frames, a beat or a stop.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// Wakes the connection task again, for what it was woken for but left for later.
    pub fn wake(&self) {
        self.ready.notify_one();
    }

    /// Takes everything the connection is to act on: the queue (leaving it empty and
    /// unallocated), the beat, and the stop (which stays set).
    pub fn collect(&self) -> Mail {
        let mut state = self.lock();
        state.bytes = 0;
        Mail {
            frames: std::mem::take(&mut state.frames),
            beat: std::mem::take(&mut state.beat),
            stop: state.stop,
        }
    }

    /// Takes everything queued, leaving the queue empty and unallocated.
    pub fn take(&self) -> VecDeque<Frame> {
        let mut state = self.lock();
        state.bytes = 0;
        std::mem::take(&mut state.frames)
    }

    /// Why the connection was told to end, if it was.
    pub fn stopped(&self) -> Option<Stop> {
        self.lock().stop
    }

    /// Refuses every later push: the connection is ending. What is queued stays, for a final
    /// drain.
    pub fn close(&self) {
        self.lock().closed = true;
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
        let outbox = Outbox::new(1000);
        let frame = text(100);
        let per = frame.len();
        let fits = 1000 / per;
        for _ in 0..fits {
            assert_eq!(outbox.push(frame.clone()), Push::Queued);
        }
        assert_eq!(outbox.queued_bytes(), fits * per);
        assert_eq!(outbox.push(frame.clone()), Push::Overflowed);
        assert_eq!(outbox.stopped(), Some(Stop::SlowConsumer));
        assert_eq!(outbox.queued_bytes(), 0, "the backlog is freed at once");
        assert_eq!(outbox.push(frame), Push::Closed);
    }

    #[test]
    fn typing_is_refused_once_half_full() {
        let outbox = Outbox::new(1000);
        assert_eq!(outbox.push(typing()), Push::Queued);
        while outbox.queued_bytes() + typing().len() <= 500 {
            assert_eq!(outbox.push(text(10)), Push::Queued);
        }
        assert_eq!(outbox.push(typing()), Push::Dropped);
        assert_eq!(outbox.stopped(), None);
    }

    #[test]
    fn typing_is_evicted_to_make_room_for_messages() {
        let outbox = Outbox::new(1000);
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
        let outbox = Outbox::new(1000);
        outbox.push(text(1));
        outbox.push(text(2));
        assert_eq!(outbox.take().len(), 2);
        assert_eq!(outbox.queued_bytes(), 0);
        assert_eq!(outbox.lock().frames.capacity(), 0);
    }

    #[test]
    fn a_closed_outbox_takes_nothing_more_but_keeps_what_it_has() {
        let outbox = Outbox::new(1000);
        assert_eq!(outbox.push(text(1)), Push::Queued);
        outbox.close();
        assert_eq!(outbox.push(text(1)), Push::Closed);
        assert_eq!(outbox.take().len(), 1, "kept for the drain");
    }

    #[tokio::test]
    async fn a_push_before_waiting_is_not_lost() {
        let outbox = Outbox::new(1000);
        outbox.push(text(1));
        tokio::time::timeout(std::time::Duration::from_secs(1), outbox.ready())
            .await
            .expect("woken by the earlier push");
    }

    #[tokio::test]
    async fn a_beat_wakes_the_connection_and_is_collected_once() {
        let outbox = Outbox::new(1000);
        outbox.beat();
        tokio::time::timeout(std::time::Duration::from_secs(1), outbox.ready())
            .await
            .expect("woken by the beat");
        let mail = outbox.collect();
        assert!(mail.beat && mail.frames.is_empty() && mail.stop.is_none());
        assert!(!outbox.collect().beat);
    }

    #[tokio::test]
    async fn going_away_keeps_the_queue_for_the_drain() {
        let outbox = Outbox::new(1000);
        outbox.push(text(1));
        outbox.stop(Stop::GoingAway);
        tokio::time::timeout(std::time::Duration::from_secs(1), outbox.ready())
            .await
            .expect("woken by the stop");
        assert_eq!(
            outbox.push(text(2)),
            Push::Queued,
            "still queued until closed"
        );
        let mail = outbox.collect();
        assert_eq!((mail.frames.len(), mail.stop), (2, Some(Stop::GoingAway)));
        // The first stop stands.
        outbox.stop(Stop::Replaced);
        assert_eq!(outbox.stopped(), Some(Stop::GoingAway));
    }

    #[test]
    fn a_replaced_connection_drops_its_queue_and_takes_nothing_more() {
        let outbox = Outbox::new(1000);
        outbox.push(text(1));
        outbox.stop(Stop::Replaced);
        assert_eq!(outbox.queued_bytes(), 0);
        assert_eq!(outbox.push(text(1)), Push::Closed);
        assert_eq!(outbox.collect().stop, Some(Stop::Replaced));
    }
}
