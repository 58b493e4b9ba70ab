//! `StatusBar`: the app's title, who you are, and the connection's state with "reconnect now".

use crate::status::{Status, Tone};
use leptos::prelude::*;
use tether_client::ConnectionState;
use wasm_bindgen::JsCast;

/// The fields that "Reconnect now" hands the keyboard to, by id, first found first: the
/// composer, the join field, the nickname field.
pub const FOCUS_AFTER_RECONNECT: [&str; 3] = ["composer-input", "room-name", "nickname"];

/// The bar at the top: the connection's state ("Connected", "Reconnecting in 3 s (attempt 2)",
/// "Offline: waiting for the network", ...), the nickname, and a "Reconnect now" button while
/// not connected. The button goes away as soon as it is pressed (the state turns to
/// connecting), so it hands the focus to the page's field ([`FOCUS_AFTER_RECONNECT`]) rather
/// than let it fall to the page's body.
#[component]
pub fn StatusBar(
    /// The connection's state, from [`UseSocket::state`](crate::UseSocket::state).
    #[prop(into)]
    state: Signal<ConnectionState>,
    /// The wall clock in milliseconds since the Unix epoch, for the reconnect countdown.
    #[prop(into)]
    now: Signal<u64>,
    /// The nickname, once picked.
    #[prop(into)]
    nickname: Signal<Option<String>>,
    /// Called when the user asks to reconnect now.
    #[prop(into)]
    on_reconnect: Callback<()>,
) -> impl IntoView {
    let status = Memo::new(move |_| Status::of(state.get(), now.get()));
    // Its own memo, so the countdown does not rebuild the button (and lose its focus) each second.
    let can_reconnect = Memo::new(move |_| status.with(|s| s.can_reconnect));
    let tone = move || match status.with(|s| s.tone) {
        Tone::Ok => "ok",
        Tone::Busy => "busy",
        Tone::Down => "down",
    };
    // Screen readers hear the coarse state once per change, not the countdown every second.
    let spoken = Memo::new(move |_| match state.get() {
        ConnectionState::Open => "Connected",
        ConnectionState::Connecting => "Connecting",
        ConnectionState::Reconnecting { .. } => "Connection lost, reconnecting",
        ConnectionState::Offline => "Offline",
        ConnectionState::Closing | ConnectionState::Closed => "Disconnected",
    });
    let reconnect = move |_| {
        on_reconnect.run(());
        let document = document();
        if let Some(field) = FOCUS_AFTER_RECONNECT
            .iter()
            .find_map(|id| document.get_element_by_id(id))
        {
            // Every id in the list is an <input>. A refused focus changes nothing.
            let _ = field.unchecked_into::<web_sys::HtmlElement>().focus();
        }
    };
    view! {
        <header class="status-bar">
            <h1 class="brand">"Tether chat"</h1>
            <p class="status" data-tone=tone>
                <span class="dot" aria-hidden="true"></span>
                <span class="status-label" aria-hidden="true">{move || status.with(|s| s.label.clone())}</span>
                <span class="sr-only" role="status">{spoken}</span>
            </p>
            {move || {
                can_reconnect
                    .get()
                    .then(|| {
                        view! {
                            <button type="button" class="reconnect" on:click=reconnect>
                                "Reconnect now"
                            </button>
                        }
                    })
            }}
            {move || {
                nickname
                    .get()
                    .map(|name| {
                        view! { <p class="me">"You are " <strong dir="auto">{name}</strong></p> }
                    })
            }}
        </header>
    }
}
