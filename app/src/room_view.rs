//! `RoomView`: one room: its name and members, messages, who is typing, and the composer.

use crate::{
    chat_line::ChatLine,
    composer::Composer,
    member_list::{MemberEntry, MemberList},
    message_list::MessageList,
    room::Top,
};
use leptos::prelude::*;

/// The room shown: a header with its name, its joining state and member list, the messages
/// (with joins and leaves), the typing indicator ("Alice is typing…") and the composer.
#[component]
pub fn RoomView(
    /// The room's name.
    #[prop(into)]
    room: Signal<String>,
    /// Whether the server confirmed the join (false while joining or rejoining after a reconnect).
    #[prop(into)]
    joined: Signal<bool>,
    /// The messages, oldest first.
    #[prop(into)]
    lines: Signal<Vec<ChatLine>>,
    /// The members.
    #[prop(into)]
    members: Signal<Vec<MemberEntry>>,
    /// The typing indicator's text, or `None` when nobody is typing.
    #[prop(into)]
    typing: Signal<Option<String>>,
    /// Called with the text to send; an `Err` is shown in the composer.
    #[prop(into)]
    on_send: Callback<String, Result<(), String>>,
    /// Called as the user types (throttled by the caller).
    #[prop(into)]
    on_typing: Callback<()>,
    /// Called with a failed message's key to send it again.
    #[prop(into)]
    on_retry: Callback<u64>,
    /// Called with an undelivered message's key to remove it.
    #[prop(into)]
    on_remove: Callback<u64>,
    /// What the top of the message list offers (older messages, the room's start).
    #[prop(into, optional)]
    top: Signal<Option<Top>>,
    /// Called to load older messages.
    #[prop(into, optional)]
    on_older: Option<Callback<()>>,
    /// Why messages sent while this client was away could not be brought back, if they could
    /// not: shown above the messages with "Reload history".
    #[prop(into, optional)]
    gap: Signal<Option<String>>,
    /// Called when the user asks to reload the room's history.
    #[prop(into, optional)]
    on_reload: Option<Callback<()>>,
) -> impl IntoView {
    let reload = move |_| {
        if let Some(on_reload) = on_reload {
            on_reload.run(());
        }
    };
    view! {
        <section class="room-view" aria-labelledby="room-title">
            <header class="room-header">
                <h2 id="room-title">
                    <span aria-hidden="true">"#"</span>
                    <span dir="auto">{room}</span>
                </h2>
                <span class="joining" hidden=joined>"joining…"</span>
                <MemberList members=members joined=joined />
            </header>
            {move || {
                gap.get()
                    .map(|text| {
                        view! {
                            <div class="gap" role="alert">
                                <span>{text}</span>
                                <button type="button" on:click=reload>
                                    "Reload history"
                                </button>
                            </div>
                        }
                    })
            }}
            <MessageList
                lines=lines
                label=Signal::derive(move || format!("Messages in {}", room.get()))
                on_retry=on_retry
                on_remove=on_remove
                top=top
                on_older=Callback::new(move |()| {
                    if let Some(on_older) = on_older {
                        on_older.run(());
                    }
                })
            />
            <p class="typing">{move || typing.get()}</p>
            <Composer room=room on_send=on_send on_typing=on_typing />
        </section>
    }
}
