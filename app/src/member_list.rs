//! `MemberList`: who is in the room, behind a "N members" disclosure.

use leptos::prelude::*;

/// One member as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemberEntry {
    /// The member's client id (the list's key).
    pub user_id: String,
    /// The name shown.
    pub name: String,
    /// Whether it is this client.
    pub me: bool,
}

/// The member count as a button-like summary, and the names under it when opened.
#[component]
pub fn MemberList(
    /// The members, this client included.
    #[prop(into)]
    members: Signal<Vec<MemberEntry>>,
) -> impl IntoView {
    let count = move || match members.with(Vec::len) {
        1 => "1 member".to_owned(),
        n => format!("{n} members"),
    };
    view! {
        <details class="members">
            <summary class="member-count">{count}</summary>
            <ul class="member-list" aria-label="Members">
                <For
                    each=move || members.get()
                    key=|member| member.clone()
                    children=|member| {
                        view! {
                            <li class:me=member.me>
                                {member.name}
                                {member.me.then_some(" (you)")}
                            </li>
                        }
                    }
                />
            </ul>
        </details>
    }
}
