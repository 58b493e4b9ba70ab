//! `RoomList`: the rooms one is in, switching between them, joining and leaving.

use leptos::{ev::SubmitEvent, html, prelude::*};

/// One room as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoomSummary {
    /// The room's name.
    pub name: String,
    /// Messages that arrived while it was not shown.
    pub unread: usize,
    /// Whether the server confirmed the join (false while joining or rejoining).
    pub joined: bool,
}

/// The "join a room" form and the list of joined rooms: a button to show each (with its unread
/// count) and one to leave it.
#[component]
pub fn RoomList(
    /// The rooms, in the order they were joined.
    #[prop(into)]
    rooms: Signal<Vec<RoomSummary>>,
    /// The room shown.
    #[prop(into)]
    current: Signal<Option<String>>,
    /// Called with the typed room name; an `Err` is shown under the field.
    #[prop(into)]
    on_join: Callback<String, Result<(), String>>,
    /// Called with a room's name to show it.
    #[prop(into)]
    on_select: Callback<String>,
    /// Called with a room's name to leave it.
    #[prop(into)]
    on_leave: Callback<String>,
) -> impl IntoView {
    let value = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let input = NodeRef::<html::Input>::new();
    Effect::new(move |_| {
        // Right after the nickname, the next thing to do is join a room.
        if let Some(input) = input.get()
            && rooms.with_untracked(Vec::is_empty)
        {
            let _ = input.focus();
        }
    });
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        match on_join.run(value.get_untracked()) {
            Ok(()) => {
                value.set(String::new());
                error.set(None);
            }
            Err(e) => error.set(Some(e)),
        }
    };
    view! {
        <nav class="rooms" aria-label="Rooms">
            <form class="join-form" on:submit=submit>
                <label for="room-name">"Join a room"</label>
                <div class="row">
                    <input
                        id="room-name"
                        type="text"
                        placeholder="lobby"
                        autocomplete="off"
                        maxlength="128"
                        node_ref=input
                        bind:value=value
                    />
                    <button type="submit">"Join"</button>
                </div>
                <p class="error" role="alert">{move || error.get()}</p>
            </form>
            <ul class="room-list">
                <For
                    each=move || rooms.get()
                    key=|room| room.clone()
                    children=move |room| {
                        let name = room.name.clone();
                        let shown = {
                            let name = name.clone();
                            move || current.with(|c| c.as_deref() == Some(name.as_str()))
                        };
                        let select = {
                            let name = name.clone();
                            move |_| on_select.run(name.clone())
                        };
                        let leave = {
                            let name = name.clone();
                            move |_| on_leave.run(name.clone())
                        };
                        view! {
                            <li class="room-item" class:joining=!room.joined>
                                <button
                                    type="button"
                                    class="room-button"
                                    aria-current=move || shown().then_some("true")
                                    on:click=select
                                >
                                    <span class="room-name">{name.clone()}</span>
                                    {(room.unread > 0)
                                        .then(|| {
                                            view! {
                                                <span class="badge">
                                                    {room.unread}
                                                    <span class="sr-only">" unread"</span>
                                                </span>
                                            }
                                        })}
                                </button>
                                <button
                                    type="button"
                                    class="leave"
                                    aria-label=format!("Leave {name}")
                                    title=format!("Leave {name}")
                                    on:click=leave
                                >
                                    "×"
                                </button>
                            </li>
                        }
                    }
                />
            </ul>
        </nav>
    }
}
