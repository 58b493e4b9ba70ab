//! `ChatScreen`: the room list beside the room shown, loaded on demand.
//!
//! The chat screen is a third of the app's code and nobody needs it before they have picked a
//! nickname. `#[wasm_split]` marks its entry point as a split point: every trunk build runs
//! `scripts/post-build.sh`, which moves everything only that entry point reaches into a .wasm of
//! its own, fetched when [`ChatScreen::load`] is first called: as the user starts typing a
//! nickname. Without the split (native tests) the call is direct.
//!
//! What comes back is the screen's render function, so once loaded the screen is built
//! synchronously like any other view, and the room half of the chat's message handling
//! ([`ChatClient::receive_room`]: decoding room messages,
//! [`ChatState::apply_room`](crate::ChatState::apply_room), and asking for member lists), which
//! the client uses from then on: room events only answer joins, which only this screen makes.
//! The screen's styles (`chat_screen.css`) travel in the same .wasm and are added to the page's
//! `<head>` the first time the screen is built.

use crate::{
    ChatClient,
    browser_store::{self, Session},
    chat_client::RoomEvents,
    chat_line::ChatLine,
    member_list::MemberEntry,
    probe,
    room::{DEFAULT_ROOM, Room},
    room_list::{RoomList, RoomSummary},
    room_view::RoomView,
    sign_in,
    typing::typing_text,
};
use leptos::{prelude::*, wasm_split::SplitLoaderError};
use std::sync::Once;

/// Builds the chat screen for a client, with a clock for typing notices.
pub type Render = fn(ChatClient, Signal<u64>) -> AnyView;

/// How far loading the chat screen has got.
#[derive(Debug, Clone, Copy)]
pub enum Loading {
    /// Not asked for yet.
    Idle,
    /// Being fetched.
    Pending,
    /// Loaded: call it to build the screen.
    Ready(Render),
    /// The fetch failed (the server was unreachable, say); [`ChatScreen::load`] tries again.
    Failed,
}

/// What the chat screen's module hands over when it has loaded.
#[derive(Debug, Clone, Copy)]
struct Module {
    render: Render,
    room_events: RoomEvents,
}

/// Loads the chat screen for a client, once, and says how far it got. `Copy`, so handlers
/// capture it freely.
#[derive(Debug, Clone, Copy)]
pub struct ChatScreen {
    client: ChatClient,
    state: RwSignal<Loading>,
}

impl ChatScreen {
    /// The screen of `client`, not loaded yet, owned by the current owner.
    pub fn new(client: ChatClient) -> Self {
        Self {
            client,
            state: RwSignal::new(Loading::Idle),
        }
    }

    /// Starts loading, unless it is loading or loaded already; after a failure, tries again.
    pub fn load(self) {
        if matches!(
            self.state.get_untracked(),
            Loading::Pending | Loading::Ready(_)
        ) {
            return;
        }
        self.state.set(Loading::Pending);
        leptos::task::spawn_local(async move {
            let loaded = match entry().await {
                Ok(module) => {
                    self.client.handle_room_events(module.room_events);
                    Loading::Ready(module.render)
                }
                // The loader has logged why to the console.
                Err(LoadError) => Loading::Failed,
            };
            // The owner may have gone while the fetch ran.
            let _ = self.state.try_set(loaded);
        });
    }

    /// How far loading has got.
    pub fn state(self) -> Signal<Loading> {
        self.state.into()
    }
}

/// The split module could not be fetched or instantiated.
#[derive(Debug)]
struct LoadError;

impl From<SplitLoaderError> for LoadError {
    fn from(_: SplitLoaderError) -> Self {
        LoadError
    }
}

/// The split point: everything only this reaches goes into `split_chat_screen.wasm`.
#[leptos::wasm_split::wasm_split(chat_screen, wasm_split_path = ::leptos::wasm_split, fallible)]
fn entry() -> Result<Module, LoadError> {
    Ok(Module {
        render,
        room_events: RoomEvents::CHAT,
    })
}

/// The chat screen's stylesheet as a `<style>` element, added to the page by [`add_styles`].
const STYLES: &str = concat!("<style>", include_str!("chat_screen.css"), "</style>");

/// Adds [`STYLES`] to the page's `<head>`, once.
fn add_styles() {
    static ADDED: Once = Once::new();
    ADDED.call_once(|| {
        if let Some(head) = web_sys::window()
            .and_then(|window| window.document())
            .and_then(|document| document.head())
        {
            // A page that refuses it shows the screen unstyled, still usable.
            let _ = head.insert_adjacent_html("beforeend", STYLES);
        }
    });
}

/// The room list beside the room shown.
fn render(client: ChatClient, now: Signal<u64>) -> AnyView {
    add_styles();
    let state = client.state;
    // The screen shows once a nickname is set: remember it for the next visit (here rather than
    // on the first page, which pays for every byte).
    if let Some(name) = state.with_untracked(|s| s.nickname.clone()) {
        browser_store::save(&name);
    }
    // With token auth, a token for that name (before the rooms are joined again below).
    sign_in::use_sign_in(client);
    // After a reload, the rooms this tab had open, in their order, the one shown last shown
    // again.
    if state.with_untracked(|s| s.rooms.is_empty()) {
        let (rooms, shown) = Session::rooms();
        for room in &rooms {
            // A room that cannot be joined says so in the notice, as a typed one would.
            if let Err(error) = client.join(room) {
                state.update(|s| s.notice = Some(error));
            }
        }
        if let Some(shown) = shown {
            client.select(&shown);
        }
    }
    // While a reconnect is far off, connect as soon as the server answers again.
    probe::use_probe(client.socket, now);
    let current = Memo::new(move |_| state.with(|s| s.current.clone()));
    let rooms = Signal::derive(move || {
        state.with(|s| {
            s.rooms
                .iter()
                .map(|room| RoomSummary {
                    name: room.name.clone(),
                    unread: room.unread,
                    joined: room.joined,
                })
                .collect::<Vec<_>>()
        })
    });
    view! {
        <div class="chat">
            <RoomList
                rooms=rooms
                current=current
                on_join=Callback::new(move |name: String| client.join(&name))
                on_select=Callback::new(move |name: String| client.select(&name))
                on_leave=Callback::new(move |name: String| client.leave(&name))
            />
            <main class="room-pane">
                // Rebuilt only when another room is shown: `current` is a memo.
                {move || match current.get() {
                    Some(room) => room_pane(client, room, now).into_any(),
                    None => {
                        view! {
                            <div class="empty">
                                <h2>"No room yet"</h2>
                                <p>
                                    "Join a room to start chatting: try "
                                    <code>{DEFAULT_ROOM}</code>
                                    "."
                                </p>
                            </div>
                        }
                            .into_any()
                    }
                }}
            </main>
        </div>
    }
    .into_any()
}

/// The [`RoomView`] of `room`, fed from the client's state.
fn room_pane(client: ChatClient, room: String, now: Signal<u64>) -> impl IntoView {
    let state = client.state;
    let name = room.clone();
    let lines = Signal::derive(move || {
        state.with(|s| {
            s.room(&name)
                .map(|r| {
                    r.lines
                        .iter()
                        .map(|line| ChatLine {
                            name: r.distinct_name(&line.from, &line.name),
                            ..line.clone()
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
    });
    let name = room.clone();
    let joined = Signal::derive(move || state.with(|s| s.room(&name).is_some_and(|r| r.joined)));
    let name = room.clone();
    let members = Signal::derive(move || {
        state.with(|s| {
            let me = s.me.as_deref();
            s.room(&name)
                .map(|r| {
                    r.members
                        .iter()
                        .map(|m| MemberEntry {
                            user_id: m.user_id.clone(),
                            name: r.distinct_name(&m.user_id, &m.display_name()),
                            me: Some(m.user_id.as_str()) == me,
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
    });
    let name = room.clone();
    let typing =
        Signal::derive(move || typing_text(&state.with(|s| s.typing_names(&name, now.get()))));
    let name = room.clone();
    let top = Memo::new(move |_| state.with(|s| s.room(&name).map(Room::top)));
    let name = room.clone();
    let gap = Memo::new(move |_| state.with(|s| s.room(&name).and_then(|r| r.gap.clone())));
    let name = room.clone();
    view! {
        <RoomView
            room=room
            joined=joined
            lines=lines
            members=members
            typing=typing
            on_send=Callback::new(move |text: String| client.send(&text))
            on_typing=Callback::new(move |()| client.typing())
            on_retry=Callback::new(move |key: u64| client.retry(key))
            on_remove=Callback::new(move |key: u64| client.remove(key))
            top=top
            on_older=Callback::new(move |()| client.load_older())
            gap=gap
            on_reload=Callback::new(move |()| client.reload_history(&name))
        />
    }
}
