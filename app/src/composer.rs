//! `Composer`: the text field and Send button under a room's messages.

use crate::text_length::TextLength;
use leptos::{ev::SubmitEvent, html, prelude::*};

/// Where the user writes. Enter (or the button) sends and clears the field; each edit reports
/// typing (the caller throttles it). Near the server's length limit it says how much room is
/// left; a text over it is not sent and stays in the field, and neither does one whose send
/// fails, which shows why.
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
    // Recounted where it is read (three cheap counts per key): a memo of its own would cost the
    // chat screen's module more than it saves.
    let length = move || value.with(|text| TextLength::of(text));
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
        let length = value.with_untracked(|text| TextLength::of(text));
        let sent = if length.fits() {
            on_send.run(text)
        } else {
            // The server would refuse it: keep it for the user to shorten.
            Err(length.message().unwrap_or_default())
        };
        match sent {
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
    // Said under the field as the text nears the limit; not a live region, so a screen reader is
    // not interrupted at every key (the field points to it, and a refused send is an alert).
    let hint = move || {
        error
            .with(Option::is_none)
            .then(|| length().message())
            .flatten()
    };
    let label = move || format!("Message {}", room.get());
    view! {
        <form class="composer" on:submit=submit>
            <label for="composer-input" class="sr-only">{label}</label>
            <input
                id="composer-input"
                type="text"
                dir="auto"
                autocomplete="off"
                enterkeyhint="send"
                placeholder=label
                node_ref=input
                bind:value=value
                aria-describedby="composer-limit"
                aria-invalid=move || (!length().fits()).then_some("true")
                on:input=move |ev| {
                    error.set(None);
                    if !event_target_value(&ev).is_empty() {
                        on_typing.run(());
                    }
                }
            />
            <button type="submit">"Send"</button>
            <p id="composer-limit" class="limit" class:over=move || !length().fits()>
                {hint}
            </p>
            <p class="error" role="alert">{move || error.get()}</p>
        </form>
    }
}
