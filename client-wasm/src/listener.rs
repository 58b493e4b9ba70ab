//! Event listeners that count themselves, so tests can prove none leak.

use gloo_events::EventListener;
use std::cell::Cell;
use web_sys::{Event, EventTarget};

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
}

/// How many event listeners this crate has attached and not yet removed, across every socket.
///
/// A diagnostic: after a socket is closed or dropped it falls back to what it was before. The
/// browser tests check that 500 reconnects leave it unchanged.
pub fn live_listeners() -> usize {
    LIVE.with(Cell::get)
}

/// A DOM event listener, removed when dropped.
#[derive(Debug)]
pub(crate) struct Listener(#[allow(dead_code)] EventListener);

impl Listener {
    pub(crate) fn new(
        target: &EventTarget,
        event: &'static str,
        callback: impl FnMut(&Event) + 'static,
    ) -> Self {
        LIVE.with(|live| live.set(live.get() + 1));
        Self(EventListener::new(target, event, callback))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        LIVE.with(|live| live.set(live.get() - 1));
    }
}
