//! `Composer`: the text field and Send button under a room's messages.

use leptos::{ev::SubmitEvent, html, prelude::*};

/// Where the user writes. Enter (or the button) sends and clears the field; each edit reports
/// typing (the caller throttles it). A send that fails keeps the text and shows why.
#[component]
pub fn Composer(
    /// The room the text goes to, for the field's label.
    #[prop(into)]
    room: Signal<String>,
    /// Called with the text on Enter or Send; an `Err` is shown and the text is kept.
    #[prop(into)]
    on_send: Callback<String, Result<(), String>>,
    /// Called on every edit that leaves text in the field.
    #[prop(into)]
    on_typing: Callback<()>,
) -> impl IntoView {
    let value = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let input = NodeRef::<html::Input>::new();
    Effect::new(move |_| {
        if let Some(input) = input.get() {
            // Ready to type as soon as a room opens; a refused focus changes nothing.
            let _ = input.focus();
        }
    });
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let text = value.get_untracked();
        if text.trim().is_empty() {
            return;
        }
        match on_send.run(text) {
            Ok(()) => {
                value.set(String::new());
                error.set(None);
            }
            Err(e) => error.set(Some(e)),
        }
        // Clicking Send moves focus to the button; the next message starts in the field.
        if let Some(input) = input.get_untracked() {
            let _ = input.focus();
        }
    };
    let label = move || format!("Message {}", room.get());
    view! {
        <form class="composer" on:submit=submit>
            <label for="composer-input" class="sr-only">{label}</label>
            <input
                id="composer-input"
                type="text"
                autocomplete="off"
                enterkeyhint="send"
                placeholder=label
                node_ref=input
                bind:value=value
                on:input=move |ev| {
                    if !event_target_value(&ev).is_empty() {
                        on_typing.run(());
                    }
                }
            />
            <button type="submit">"Send"</button>
            <p class="error" role="alert">{move || error.get()}</p>
        </form>
    }
}
