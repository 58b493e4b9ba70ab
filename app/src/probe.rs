//! Looking for the server while the next reconnect is far off.
//!
//! The socket backs off between attempts (up to 30 s apart), so a server that comes back soon
//! after an attempt failed would wait for the next one. While that attempt is more than
//! [`FAR_MS`] away, the app asks the page's server for `/healthz` every [`EVERY_MS`] (a small
//! HTTP request, far cheaper for the server than a WebSocket handshake and the rejoins behind
//! it) and connects at once when it answers. The decision is [`due`]; [`use_probe`] does the
//! asking.

use crate::use_socket::UseSocket;
use js_sys::Reflect;
use leptos::prelude::*;
use tether_client::ConnectionState;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

/// Probe only while the next attempt is more than this far off (ms).
pub const FAR_MS: u64 = 2_000;
/// At most one probe this often (ms).
pub const EVERY_MS: u64 = 1_000;

/// Whether to ask the server now, at `now`, the last probe having been at `last`: the socket
/// waits for an attempt more than [`FAR_MS`] away, and the last probe is [`EVERY_MS`] old. Not
/// while offline (the socket connects when the browser is online again) or closed.
pub fn due(state: ConnectionState, now: u64, last: Option<u64>) -> bool {
    match state {
        ConnectionState::Reconnecting { at, .. } => {
            at > now.saturating_add(FAR_MS) && last.is_none_or(|last| now >= last + EVERY_MS)
        }
        _ => false,
    }
}

/// Probes as [`due`] says, on the ticks of `now`, and reconnects `socket` when the server
/// answers; for as long as the current owner lives.
pub fn use_probe(socket: UseSocket, now: Signal<u64>) {
    let last = StoredValue::new(None::<u64>);
    let asking = StoredValue::new(false);
    Effect::new(move |_| {
        let now = now.get();
        let state = socket.state.get();
        if asking.get_value() || !due(state, now, last.get_value()) {
            return;
        }
        last.set_value(Some(now));
        asking.set_value(true);
        leptos::task::spawn_local(async move {
            let up = answers().await;
            // `try_`: the owner may be gone by now.
            let _ = asking.try_set_value(false);
            let waiting = socket
                .state
                .try_get_untracked()
                .is_some_and(|state| matches!(state, ConnectionState::Reconnecting { .. }));
            if up && waiting {
                socket.open();
            }
        });
    });
}

/// Whether the page's server answers `/healthz` with a success.
async fn answers() -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    match JsFuture::from(window.fetch_with_str("/healthz")).await {
        Ok(response) => {
            Reflect::get(&response, &JsValue::from_str("ok"))
                .ok()
                .and_then(|ok| ok.as_bool())
                == Some(true)
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(at: u64) -> ConnectionState {
        ConnectionState::Reconnecting { attempt: 4, at }
    }

    #[test]
    fn probes_only_while_the_next_attempt_is_far_off() {
        assert!(due(waiting(10_000), 0, None));
        assert!(
            !due(waiting(2_000), 0, None),
            "the attempt itself is soon enough"
        );
        assert!(!due(waiting(10_000), 8_500, None));
        for state in [
            ConnectionState::Open,
            ConnectionState::Connecting,
            ConnectionState::Offline,
            ConnectionState::Closed,
        ] {
            assert!(!due(state, 0, None), "{state:?}");
        }
    }

    #[test]
    fn probes_at_most_once_a_second() {
        assert!(!due(waiting(30_000), 500, Some(0)));
        assert!(!due(waiting(30_000), 999, Some(0)));
        assert!(due(waiting(30_000), 1_000, Some(0)));
    }
}
