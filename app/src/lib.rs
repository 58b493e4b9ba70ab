//! `tether-app`: Tether's chat UI in Leptos (client-side rendered), and [`use_socket()`], the hook
//! it is built on.
//!
//! Built with trunk from the repository's `index.html` and `Trunk.toml`, and served by
//! `tether-server` on `/` (`scripts/run.sh`), or by `trunk serve` during development.
//!
//! # `use_socket`
//!
//! A hook over [`tether_client::Socket`]: signals for the connection, every message to
//! listeners (none lost in a burst), queued sends, request/ack, rooms rejoined after a
//! reconnect, and the socket closed for good when the component goes away.
//!
//! ```no_run
//! use leptos::prelude::*;
//! use std::time::Duration;
//! use tether_app::use_socket;
//! use tether_client::{SocketOptions, protocol::ServerMessage};
//!
//! #[component]
//! fn Lobby() -> impl IntoView {
//!     let socket = use_socket("/ws", SocketOptions::default()).expect("a relative URL resolves");
//!     let texts = RwSignal::new(Vec::<String>::new());
//!     // Every message, in order, for as long as this component lives.
//!     socket.on_message(move |message| {
//!         if let Ok(ServerMessage::Message(chat)) = message.json::<ServerMessage>() {
//!             texts.update(|texts| texts.push(chat.text));
//!         }
//!     });
//!     let _ = socket.join("lobby");
//!     let send = move |_| {
//!         let ack = socket.request(
//!             "message",
//!             &serde_json::json!({"roomId": "lobby", "text": "hi"}),
//!             Duration::from_secs(5),
//!         );
//!         leptos::task::spawn_local(async move {
//!             if let Err(error) = ack.await {
//!                 leptos::logging::warn!("not delivered: {error}");
//!             }
//!         });
//!     };
//!     view! {
//!         <p>{move || if socket.is_connected.get() { "online" } else { "offline" }}</p>
//!         <button on:click=send>"Say hi"</button>
//!         <ul>{move || texts.get().into_iter().map(|t| view! { <li>{t}</li> }).collect_view()}</ul>
//!     }
//! }
//! ```
//!
//! # Layout
//! - [`use_socket()`] ([`UseSocket`]): the hook. [`chat_client`] ([`ChatClient`]): the chat's
//!   actions over it, and how server messages reach the state.
//! - Pure state, tested natively with a virtual clock: [`chat_state`] ([`ChatState`]: rooms,
//!   messages pending → delivered, joins and leaves, members), [`room`] (and the join field's
//!   reading), [`chat_line`] (which failures may be retried), [`typing`] (who is typing,
//!   expiring after 3 s), [`throttle`] (typing notices), [`status`] (the status bar's text),
//!   [`autoscroll`], [`nickname`], [`text_length`] (a message against the server's limit).
//! - [`probe`]: while a reconnect is far off, asks the server's `/healthz` every second and
//!   connects as soon as it answers (the decision, [`probe::due`], is tested natively).
//! - [`browser_store`]: the nickname (and with token auth the user id) remembered between visits
//!   (`localStorage`), and the tab's resume token and rooms across a reload (`sessionStorage`).
//! - [`sign_in`]: with token auth, which the server shows by closing a tokenless connection with
//!   4401, a token for the nickname from the server's dev issuer before every attempt.
//! - Components: [`App`] (here), [`status_bar`], [`nickname_form`], [`room_list`],
//!   [`room_view`], [`message_list`], [`member_list`], [`composer`]. Each takes signals and
//!   callbacks, so `tests/components.rs` mounts them alone.
//! - [`chat_screen`] ([`ChatScreen`]): the room list and the room shown, in a .wasm of its own
//!   that is fetched as the user types a nickname, so the first load is the nickname screen only.
//! - [`decode`]: server text to `ServerMessage`, cheaply. [`clock`]: the wall clock and a ticking
//!   signal of it.
#![warn(missing_docs)]

pub mod autoscroll;
pub mod browser_store;
pub mod chat_client;
pub mod chat_line;
pub mod chat_screen;
pub mod chat_state;
pub mod clock;
pub mod composer;
pub mod decode;
pub mod member_list;
pub mod message_list;
pub mod nickname;
pub mod nickname_form;
pub mod probe;
pub mod room;
pub mod room_list;
pub mod room_view;
pub mod sign_in;
pub mod status;
pub mod status_bar;
pub mod text_length;
pub mod throttle;
pub mod typing;
pub mod use_socket;

pub use chat_client::ChatClient;
pub use chat_screen::ChatScreen;
pub use chat_state::ChatState;
pub use use_socket::{UseSocket, use_socket};

use crate::{
    browser_store::Session, chat_screen::Loading, clock::use_clock, nickname::parse_nickname,
    nickname_form::NicknameForm, room::PAGE, status_bar::StatusBar,
};
use leptos::prelude::*;
use std::time::Duration;
use tether_client::{ReconnectOptions, SocketOptions};

/// The chat application: connects to `/ws` on the page's host and shows the chat.
#[component]
pub fn App() -> impl IntoView {
    // A chat left open should come back whenever the server does: never give up, at most 30 s
    // apart (the default cap), with "Reconnect now" for the impatient.
    // A fresh join shows the room's latest page of messages; a reload of this tab presents its
    // last resume token, so the server knows it as the same member.
    let options = SocketOptions::default()
        .reconnect(ReconnectOptions::default().max_attempts(None))
        .recent(PAGE)
        .resume_token(Session::token());
    match use_socket("/ws", options) {
        Ok(socket) => view! { <Chat client=ChatClient::new(socket) /> }.into_any(),
        // Only a page without a location could get here: "/ws" resolves against any other.
        Err(_) => {
            view! { <p class="fatal" role="alert">"Cannot work out the server's address."</p> }
                .into_any()
        }
    }
}

/// The chat over a connected client: the status bar, then the nickname form or the rooms.
#[component]
fn Chat(
    /// The chat's state and actions.
    client: ChatClient,
) -> impl IntoView {
    let state = client.state;
    let now = use_clock(Duration::from_millis(500));
    let nickname = Memo::new(move |_| state.with(|s| s.nickname.clone()));
    // Memos where a change rebuilds a subtree: the chat is built once the nickname is set, not
    // again on every message.
    let named = Memo::new(move |_| nickname.with(Option::is_some));
    // Fetched as the user starts typing a nickname (below), or once one is set; after a failed
    // fetch, again when the connection comes back.
    let screen = ChatScreen::new(client);
    // A nickname from an earlier visit fills the field (the chat screen saves it), and the chat
    // screen is fetched at once for the user coming back.
    let remembered = browser_store::load().filter(|name| parse_nickname(name).is_ok());
    if remembered.is_some() {
        screen.load();
    }
    // A reload of a tab that was chatting goes straight back to its rooms (the chat screen
    // joins them again).
    if let Some(name) = remembered.clone().filter(|_| Session::had_rooms()) {
        let _ = client.set_nickname(name);
    }
    Effect::new(move |_| {
        client.socket.is_connected.track();
        if named.get() {
            screen.load();
        }
    });
    let notice = Memo::new(move |_| state.with(|s| s.notice.clone()));
    let announcement = Signal::derive(move || state.with(|s| s.announcement.clone()));
    let welcome = move || {
        view! {
            <main class="welcome" on:input=move |_| screen.load()>
                <NicknameForm
                    on_submit=Callback::new(move |name: String| client.set_nickname(name))
                    initial=remembered.clone().unwrap_or_default()
                />
            </main>
        }
    };
    view! {
        <div class="app">
            <StatusBar
                state=client.socket.state
                now=now
                nickname=nickname
                on_reconnect=Callback::new(move |()| client.socket.open())
            />
            {move || {
                notice
                    .get()
                    .map(|text| {
                        view! {
                            <div class="notice" role="alert">
                                <span>{text}</span>
                                <button type="button" on:click=move |_| client.dismiss_notice()>
                                    "Dismiss"
                                </button>
                            </div>
                        }
                    })
            }}
            // The loading state is read only once named: the nickname form must not be rebuilt,
            // losing what was typed, when the chat screen arrives while the user types.
            {move || {
                if !named.get() {
                    return welcome().into_any();
                }
                match screen.state().get() {
                    Loading::Ready(render) => render(client, now),
                    Loading::Idle | Loading::Pending => loading(screen, false).into_any(),
                    Loading::Failed => loading(screen, true).into_any(),
                }
            }}
            <div class="sr-only" aria-live="polite" aria-atomic="true">{announcement}</div>
        </div>
    }
}

/// Shown while the chat screen loads, and with "Try again" if it `failed` to load.
fn loading(screen: ChatScreen, failed: bool) -> impl IntoView {
    let text = if failed {
        "The chat could not be loaded from the server."
    } else {
        "Loading the chat…"
    };
    view! {
        <main class="welcome">
            <div class="card" role="status">
                <p>{text}</p>
                <button type="button" hidden=!failed on:click=move |_| screen.load()>
                    "Try again"
                </button>
            </div>
        </main>
    }
}
