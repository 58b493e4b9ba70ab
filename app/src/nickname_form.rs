//! `NicknameForm`: the first screen, where the user picks a nickname.

use crate::nickname::parse_nickname;
use leptos::{ev::SubmitEvent, html, prelude::*};

/// Asks for a nickname; Enter or the button submits it. The name is checked (trimmed, not blank,
/// at most 64 bytes) before `on_submit` sees it, and an error from either shows under the field.
#[component]
pub fn NicknameForm(
    /// Called with the checked nickname; an `Err` is shown to the user.
    #[prop(into)]
    on_submit: Callback<String, Result<(), String>>,
    /// What the field starts with (empty unless given): the nickname remembered from an earlier
    /// visit.
    #[prop(optional)]
    initial: String,
) -> impl IntoView {
    let value = RwSignal::new(initial);
    let error = RwSignal::new(None::<String>);
    let input = NodeRef::<html::Input>::new();
    Effect::new(move |_| {
        if let Some(input) = input.get() {
            // Focus is a convenience; a browser that refuses it changes nothing.
            let _ = input.focus();
        }
    });
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let result = parse_nickname(&value.get_untracked()).and_then(|name| on_submit.run(name));
        error.set(result.err());
    };
    view! {
        <form class="card nickname-form" on:submit=submit novalidate>
            <h2>"Welcome"</h2>
            <label for="nickname">"Pick a nickname"</label>
            <input
                id="nickname"
                name="nickname"
                type="text"
                dir="auto"
                autocomplete="nickname"
                maxlength="64"
                node_ref=input
                bind:value=value
                aria-invalid=move || error.with(Option::is_some).then_some("true")
                aria-describedby="nickname-error"
            />
            <button type="submit">"Start chatting"</button>
            <p id="nickname-error" class="error" role="alert">{move || error.get()}</p>
        </form>
    }
}
