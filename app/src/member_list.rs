//! `MemberList`: who is in the room, behind a "N members" disclosure.

use leptos::{ev::KeyboardEvent, prelude::*};
use wasm_bindgen::JsCast;
use web_sys::{Element, Node};

/// One member as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemberEntry {
    /// The member's id (the list's key): its client id, or with token auth the token's user.
    pub user_id: String,
    /// The name shown.
    pub name: String,
    /// Whether it is this client.
    pub me: bool,
}

/// "1 member", "3 members".
pub fn member_count(count: usize) -> String {
    match count {
        1 => "1 member".to_owned(),
        n => format!("{n} members"),
    }
}

/// The member count as a button-like summary, and the names under it when opened; Escape closes
/// it again. Not shown while the room is being joined, when nobody is known to be in it yet (a
/// count of 0 would be wrong).
#[component]
pub fn MemberList(
    /// The members, this client included.
    #[prop(into)]
    members: Signal<Vec<MemberEntry>>,
    /// Whether the server confirmed the join on the current connection: the list is known.
    #[prop(into)]
    joined: Signal<bool>,
) -> impl IntoView {
    // On the summary, the one part that takes the focus, which stays there to open it again.
    // Found from the event rather than node refs, which cost the chat screen's module more.
    let close_on_escape = |ev: KeyboardEvent| {
        if ev.key() == "Escape"
            && let Some(details) = ev
                .target()
                .and_then(|summary| summary.unchecked_into::<Node>().parent_node())
        {
            // Closing a closed list changes nothing.
            let _ = details.unchecked_into::<Element>().remove_attribute("open");
        }
    };
    view! {
        <details class="members" hidden=move || !joined.get()>
            <summary class="member-count" on:keydown=close_on_escape>
                {move || member_count(members.with(Vec::len))}
            </summary>
            <ul class="member-list" aria-label="Members">
                <For
                    each=move || members.get()
                    key=|member| member.clone()
                    children=|member| {
                        view! {
                            <li class:me=member.me>
                                <span dir="auto">{member.name}</span>
                                {member.me.then_some(" (you)")}
                            </li>
                        }
                    }
                />
            </ul>
        </details>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_members_in_words() {
        assert_eq!(member_count(1), "1 member");
        assert_eq!(member_count(2), "2 members");
        assert_eq!(member_count(0), "0 members");
    }
}
