//! Event listeners that remove themselves when dropped, and count themselves so tests can prove
//! none leak.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use wasm_bindgen::{JsCast, closure::Closure};
use web_sys::{Event, EventTarget};

// An atomic rather than a `thread_local!`: no `with` closure, and the browser's main thread is the
// only one here.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// How many event listeners this crate has attached and not yet removed, across every socket.
///
/// A diagnostic: after a socket is closed or dropped it falls back to what it was before. The
/// browser tests check that 500 reconnects leave it unchanged.
pub fn live_listeners() -> usize {
    LIVE.load(Relaxed)
}

/// A DOM event listener, removed when dropped.
///
/// Plain `addEventListener` through web-sys rather than gloo-events: gloo builds an options
/// object for every listener, which costs glue code this crate does not need.
pub(crate) struct Listener {
    target: EventTarget,
    event: &'static str,
    callback: Closure<dyn FnMut(Event)>,
}

impl Listener {
    pub(crate) fn new(
        target: &EventTarget,
        event: &'static str,
        callback: impl FnMut(Event) + 'static,
    ) -> Self {
        // Boxed here, so that wasm-bindgen's glue exists once for all listeners.
        let callback: Box<dyn FnMut(Event)> = Box::new(callback);
        let callback = Closure::wrap(callback);
        let _ = target.add_event_listener_with_callback(event, callback.as_ref().unchecked_ref());
        LIVE.fetch_add(1, Relaxed);
        Self {
            target: target.clone(),
            event,
            callback,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.target.remove_event_listener_with_callback(
            self.event,
            self.callback.as_ref().unchecked_ref(),
        );
        LIVE.fetch_sub(1, Relaxed);
    }
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("event", &self.event)
            .finish_non_exhaustive()
    }
}
