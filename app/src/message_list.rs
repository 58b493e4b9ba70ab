//! `MessageList`: a room's messages, newest at the bottom, following new ones unless the user
//! scrolled up to read.

use crate::{
    autoscroll::Autoscroll,
    chat_line::{ChatLine, Delivery, LineKind},
    room::Top,
};
use leptos::{either::Either, html, prelude::*};
use wasm_bindgen::JsValue;

/// The messages of one room: sender, time and text, one's own marked and showing whether they
/// were delivered, with "Remove" on those that were not, and "Retry" too where another try may
/// go through; between them, who joined and left. Text is always rendered as text, each name and
/// message in its own direction (`dir="auto"`), so right-to-left text reads right to left.
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
    /// Called with an undelivered message's key when the user removes it.
    #[prop(into)]
    on_remove: Callback<u64>,
    /// What the top of the list offers: older messages to load, or the room's start.
    #[prop(into, optional)]
    top: Signal<Option<Top>>,
    /// Called when the user asks for older messages (the button, or scrolling to the top while
    /// there are some).
    #[prop(into, optional)]
    on_older: Option<Callback<()>>,
) -> impl IntoView {
    let list = NodeRef::<html::Div>::new();
    let scroll = StoredValue::new(Autoscroll::default());
    let unseen = RwSignal::new(0usize);
    // The list's height and first line when last laid out: when older lines arrive at the top,
    // the scroll position moves down by as much as they added, so what the user was reading
    // stays where it was.
    let laid_out = StoredValue::new((0i32, None::<u64>));
    let older = move || {
        if let Some(on_older) = on_older {
            on_older.run(());
        }
    };
    let to_bottom = move || {
        // After the browser has laid out the new rows.
        request_animation_frame(move || {
            if let Some(list) = list.get_untracked() {
                list.set_scroll_top(list.scroll_height());
            }
        });
    };
    Effect::new(move |_| {
        let first = lines.with(|lines| lines.first().map(|line| line.key));
        request_animation_frame(move || {
            let Some(list) = list.get_untracked() else {
                return;
            };
            let height = list.scroll_height();
            let (before, was_first) = laid_out.get_value();
            // Older lines came in at the top while the user was not at the bottom.
            if first != was_first && was_first.is_some() && !scroll.with_value(Autoscroll::is_stuck)
            {
                list.set_scroll_top(list.scroll_top() + height - before);
            }
            laid_out.set_value((height, first));
        });
    });
    Effect::new(move |newest: Option<Option<u64>>| {
        let (latest, added, messages, mine) = lines.with(|lines| {
            let seen = newest.flatten();
            let new = lines
                .iter()
                .rev()
                .take_while(|line| seen.is_none_or(|seen| line.key > seen));
            let (added, messages) = new.fold((0, 0), |(added, messages), line| {
                (
                    added + 1,
                    messages + usize::from(line.kind == LineKind::Message),
                )
            });
            (
                lines.last().map(|line| line.key),
                added,
                messages,
                lines.last().is_some_and(|line| line.mine),
            )
        });
        if newest.is_none() {
            to_bottom();
        } else if added > 0 {
            // Joins and leaves follow the list down like messages, but only messages count as
            // new ones on the "jump" button.
            if scroll.try_update_value(|s| s.added(messages, mine)) == Some(true) {
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
            laid_out.update_value(|(height, _)| *height = list.scroll_height());
            if list.scroll_top() < NEAR_TOP && top.get_untracked() == Some(Top::More) {
                older();
            }
        }
    };
    // Retrying rebuilds the line and removing drops it, taking the focused button with it: the
    // list itself keeps the focus.
    let focus_list = move || {
        if let Some(list) = list.get_untracked() {
            let _ = list.focus();
        }
    };
    let on_retry = Callback::new(move |key| {
        on_retry.run(key);
        focus_list();
    });
    let on_remove = Callback::new(move |key| {
        on_remove.run(key);
        focus_list();
    });
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
                {move || {
                    top.get()
                        .map(|top| match top {
                            Top::More => {
                                view! {
                                    <button type="button" class="older" on:click=move |_| older()>
                                        "Load older messages"
                                    </button>
                                }
                                    .into_any()
                            }
                            Top::Loading => {
                                view! {
                                    <p class="older" role="status">
                                        "Loading older messages…"
                                    </p>
                                }
                                    .into_any()
                            }
                            Top::Start => {
                                view! { <p class="older">"This is the start of the conversation."</p> }
                                    .into_any()
                            }
                            Top::Nothing => ().into_any(),
                        })
                }}
                <ol class="message-list">
                    <For
                        each=move || lines.get()
                        key=|line| (line.key, line.delivery.clone())
                        children=move |line| message_item(line, on_retry, on_remove)
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

fn message_item(
    line: ChatLine,
    on_retry: Callback<u64>,
    on_remove: Callback<u64>,
) -> impl IntoView {
    let (time, iso) = clock_time(line.timestamp);
    if let Some(event) = line.event_text() {
        return Either::Left(view! {
            <li class="event">
                <span class="from" dir="auto">{line.name}</span>
                {format!(" {event} ")}
                <time datetime=iso>{time}</time>
            </li>
        });
    }
    let status = line.status_text().map(str::to_owned);
    let state = match &line.delivery {
        Delivery::Received => "received",
        Delivery::Pending => "pending",
        Delivery::Delivered => "delivered",
        Delivery::Failed(_) | Delivery::Refused(_) => "failed",
    };
    let retry = matches!(line.delivery, Delivery::Failed(_));
    let failure = line.delivery.failure().map(str::to_owned);
    let key = line.key;
    Either::Right(view! {
        <li class="msg" class:mine=line.mine data-delivery=state>
            <div class="meta">
                <span class="from" dir="auto">{line.name}</span>
                {line.mine.then_some(view! { <span class="you">" (you)"</span> })}
                <time datetime=iso>{time}</time>
            </div>
            <p class="text" dir="auto">{line.text}</p>
            {status.map(|status| view! { <span class="delivery">{status}</span> })}
            {failure.map(|reason| {
                view! {
                    <span class="failure">{reason}</span>
                    {retry.then(|| view! {
                        <button type="button" class="retry" on:click=move |_| on_retry.run(key)>
                            "Retry"
                        </button>
                    })}
                    <button type="button" class="remove" on:click=move |_| on_remove.run(key)>
                        "Remove"
                    </button>
                }
            })}
        </li>
    })
}

/// How close to the top of the list (in CSS pixels) scrolling loads older messages.
const NEAR_TOP: i32 = 64;

/// `HH:MM` in the viewer's time zone, and the ISO 8601 form for `<time datetime>`.
fn clock_time(timestamp: u64) -> (String, String) {
    // Milliseconds since the epoch fit an f64 exactly for the next 285,000 years.
    let date = js_sys::Date::new(&JsValue::from_f64(timestamp as f64));
    (
        format!("{:02}:{:02}", date.get_hours(), date.get_minutes()),
        String::from(date.to_iso_string()),
    )
}
