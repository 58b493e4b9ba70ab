//! `MessageList`: a room's messages, newest at the bottom, following new ones unless the user
//! scrolled up to read.

use crate::{
    autoscroll::Autoscroll,
    chat_line::{ChatLine, Delivery},
};
use leptos::{html, prelude::*};
use wasm_bindgen::JsValue;

/// The messages of one room: sender, time and text, one's own marked and showing whether they
/// were delivered, with "Retry" on those that were not. Text is always rendered as text.
///
/// It keeps the newest message in view while the user is at the bottom; once they scroll up it
/// stays put and offers a "new messages" button instead.
#[component]
pub fn MessageList(
    /// The messages, oldest first; each line's `key` must be larger than those before it.
    #[prop(into)]
    lines: Signal<Vec<ChatLine>>,
    /// The list's accessible name, e.g. "Messages in lobby".
    #[prop(into)]
    label: Signal<String>,
    /// Called with a failed message's key when the user asks to send it again.
    #[prop(into)]
    on_retry: Callback<u64>,
) -> impl IntoView {
    let list = NodeRef::<html::Div>::new();
    let scroll = StoredValue::new(Autoscroll::default());
    let unseen = RwSignal::new(0usize);
    let to_bottom = move || {
        // After the browser has laid out the new rows.
        request_animation_frame(move || {
            if let Some(list) = list.get_untracked() {
                list.set_scroll_top(list.scroll_height());
            }
        });
    };
    Effect::new(move |newest: Option<Option<u64>>| {
        let (latest, added, mine) = lines.with(|lines| {
            let seen = newest.flatten();
            let added = lines
                .iter()
                .rev()
                .take_while(|line| seen.is_none_or(|seen| line.key > seen))
                .count();
            (
                lines.last().map(|line| line.key),
                added,
                lines.last().is_some_and(|line| line.mine),
            )
        });
        if newest.is_none() {
            to_bottom();
        } else if added > 0 {
            if scroll.try_update_value(|s| s.added(added, mine)) == Some(true) {
                to_bottom();
            }
            unseen.set(scroll.with_value(Autoscroll::unseen));
        }
        latest
    });
    let has_unseen = Memo::new(move |_| unseen.get() > 0);
    let on_scroll = move |_| {
        if let Some(list) = list.get_untracked() {
            scroll.update_value(|s| {
                s.scrolled(
                    f64::from(list.scroll_top()),
                    f64::from(list.scroll_height()),
                    f64::from(list.client_height()),
                );
            });
            unseen.set(scroll.with_value(Autoscroll::unseen));
        }
    };
    let jump = move |_| {
        scroll.update_value(Autoscroll::jump);
        unseen.set(0);
        to_bottom();
    };
    view! {
        <div class="messages-wrap">
            <div
                class="messages"
                node_ref=list
                on:scroll=on_scroll
                tabindex="0"
                role="region"
                aria-label=label
            >
                <ol class="message-list">
                    <For
                        each=move || lines.get()
                        key=|line| (line.key, line.delivery.clone())
                        children=move |line| message_item(line, on_retry)
                    />
                </ol>
            </div>
            {move || {
                has_unseen
                    .get()
                    .then(|| {
                        view! {
                            <button type="button" class="jump" on:click=jump>
                                {move || match unseen.get() {
                                    1 => "1 new message ↓".to_owned(),
                                    n => format!("{n} new messages ↓"),
                                }}
                            </button>
                        }
                    })
            }}
        </div>
    }
}

fn message_item(line: ChatLine, on_retry: Callback<u64>) -> impl IntoView {
    let (time, iso) = clock_time(line.timestamp);
    let status = line.status_text().map(str::to_owned);
    let state = match &line.delivery {
        Delivery::Received => "received",
        Delivery::Pending => "pending",
        Delivery::Delivered => "delivered",
        Delivery::Failed(_) => "failed",
    };
    let failure = match &line.delivery {
        Delivery::Failed(reason) => Some(reason.clone()),
        _ => None,
    };
    let key = line.key;
    view! {
        <li class="msg" class:mine=line.mine data-delivery=state>
            <div class="meta">
                <span class="from">{line.name}</span>
                {line.mine.then_some(view! { <span class="you">" (you)"</span> })}
                <time datetime=iso>{time}</time>
            </div>
            <p class="text">{line.text}</p>
            {status.map(|status| view! { <span class="delivery">{status}</span> })}
            {failure.map(|reason| {
                view! {
                    <span class="failure">{reason}</span>
                    <button type="button" class="retry" on:click=move |_| on_retry.run(key)>
                        "Retry"
                    </button>
                }
            })}
        </li>
    }
}

/// `HH:MM` in the viewer's time zone, and the ISO 8601 form for `<time datetime>`.
fn clock_time(timestamp: u64) -> (String, String) {
    // Milliseconds since the epoch fit an f64 exactly for the next 285,000 years.
    let date = js_sys::Date::new(&JsValue::from_f64(timestamp as f64));
    (
        format!("{:02}:{:02}", date.get_hours(), date.get_minutes()),
        String::from(date.to_iso_string()),
    )
}
