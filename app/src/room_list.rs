//! `RoomList`: the rooms one is in, switching between them, joining and leaving.

use crate::room::{DEFAULT_ROOM, parse_room_name};
use leptos::{
    ev::{MouseEvent, SubmitEvent},
    html,
    prelude::*,
};
use wasm_bindgen::JsCast;
use web_sys::{Element, EventTarget, HtmlElement, Node};

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

/// Where the focus goes when the room at `index` of a list has been left and `left_over` rooms
/// remain: to the room that took its place, or the one before it if it was the last, so the
/// keyboard stays in the list; `None` when no room remains (the join field takes it then).
pub fn focus_after_leaving(index: usize, left_over: usize) -> Option<usize> {
    (left_over > 0).then(|| index.min(left_over - 1))
}

/// The "join a room" form and the list of joined rooms: a button to show each (with its unread
/// count) and one to leave it. What is typed is read by [`parse_room_name`] (so an empty field
/// joins [`DEFAULT_ROOM`], which it suggests) before `on_join` sees it. After leaving a room the
/// focus moves to the next room in the list, or to the join field when none is left.
#[component]
pub fn RoomList(
    /// The rooms, in the order they were joined.
    #[prop(into)]
    rooms: Signal<Vec<RoomSummary>>,
    /// The room shown.
    #[prop(into)]
    current: Signal<Option<String>>,
    /// Called with the room name typed, once checked; an `Err` is shown under the field.
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
        match parse_room_name(&value.get_untracked()).and_then(|name| on_join.run(name)) {
            Ok(()) => {
                value.set(String::new());
                error.set(None);
            }
            Err(e) => error.set(Some(e)),
        }
    };
    // Called from a leave button's click, whose target is that button: its list is the
    // <ul> two levels up, which outlives the button.
    let leave = move |name: String, button: Option<EventTarget>| {
        let index = rooms.with_untracked(|rooms| rooms.iter().position(|r| r.name == name));
        let list = button
            .and_then(|button| button.unchecked_into::<Node>().parent_node())
            .and_then(|item| item.parent_node());
        on_leave.run(name);
        let Some(index) = index else {
            return;
        };
        // Once the list has been redrawn without the room (and after a room shown next has
        // focused its composer: staying in the list is what a keyboard user expects here).
        request_animation_frame(move || {
            let left_over = rooms.with_untracked(Vec::len);
            let target = match focus_after_leaving(index, left_over) {
                Some(i) => list.and_then(|list| {
                    let selector = format!(".room-item:nth-child({}) .room-button", i + 1);
                    list.unchecked_into::<Element>()
                        .query_selector(&selector)
                        .ok()
                        .flatten()
                }),
                None => input.get_untracked().map(Into::into),
            };
            if let Some(target) = target {
                // Both are buttons or inputs. A refused focus changes nothing.
                let _ = target.unchecked_into::<HtmlElement>().focus();
            }
        });
    };
    view! {
        <nav class="rooms" aria-label="Rooms">
            <form class="join-form" on:submit=submit>
                <label for="room-name">"Join a room"</label>
                <div class="row">
                    <input
                        id="room-name"
                        type="text"
                        dir="auto"
                        placeholder=DEFAULT_ROOM
                        autocomplete="off"
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
                            move |ev: MouseEvent| leave(name.clone(), ev.target())
                        };
                        view! {
                            <li class="room-item" class:joining=!room.joined>
                                <button
                                    type="button"
                                    class="room-button"
                                    aria-current=move || shown().then_some("true")
                                    on:click=select
                                >
                                    // The "#" before it (CSS) stays outside the name's direction.
                                    <span class="room-name">
                                        <span dir="auto">{name.clone()}</span>
                                    </span>
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaving_a_room_focuses_the_one_that_took_its_place() {
        // [a, b, c], leave b: c is at index 1 now.
        assert_eq!(focus_after_leaving(1, 2), Some(1));
    }

    #[test]
    fn leaving_the_last_room_of_the_list_focuses_the_one_before() {
        assert_eq!(focus_after_leaving(2, 2), Some(1));
    }

    #[test]
    fn leaving_the_only_room_focuses_the_join_field() {
        assert_eq!(focus_after_leaving(0, 0), None);
    }
}
