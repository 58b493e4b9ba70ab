//! The app's components in a real browser (headless Chromium), each mounted alone with
//! `mount_to` and driven through the DOM. No server is needed: components take signals and
//! callbacks, and the `use_socket` tests point at a port where nothing ever answers.
//!
//! ```text
//! CHROMEDRIVER=$(command -v chromedriver) cargo test --target wasm32-unknown-unknown -p tether-app --test components
//! ```
#![cfg(target_arch = "wasm32")]
// Clippy's `allow-unwrap-in-tests` does not see `#[wasm_bindgen_test]` functions as tests.
#![allow(clippy::unwrap_used)]

use leptos::{mount::mount_to, prelude::*, task::tick};
use std::time::Duration;
use tether_app::{
    chat_line::{ChatLine, Delivery},
    composer::Composer,
    member_list::{MemberEntry, MemberList},
    message_list::MessageList,
    nickname_form::NicknameForm,
    room_list::{RoomList, RoomSummary},
    room_view::RoomView,
    status_bar::StatusBar,
    use_socket,
};
use tether_client::{ConnectionState, ReconnectOptions, SendError, SocketOptions, live_listeners};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement, HtmlFormElement, HtmlInputElement};

wasm_bindgen_test_configure!(run_in_browser);

/// A fresh element in the page to mount into.
fn container() -> HtmlElement {
    let document = web_sys::window().unwrap().document().unwrap();
    let div = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&div).unwrap();
    div.unchecked_into()
}

fn find(root: &HtmlElement, selector: &str) -> Element {
    root.query_selector(selector)
        .unwrap()
        .unwrap_or_else(|| panic!("nothing matches {selector}"))
}

fn find_all(root: &HtmlElement, selector: &str) -> Vec<Element> {
    let list = root.query_selector_all(selector).unwrap();
    (0..list.length())
        .filter_map(|i| list.item(i))
        .map(|node| node.unchecked_into())
        .collect()
}

fn text(root: &HtmlElement, selector: &str) -> String {
    find(root, selector).text_content().unwrap_or_default()
}

/// Types into an input as a user would: sets the value and fires a bubbling `input` event.
fn type_into(root: &HtmlElement, selector: &str, value: &str) {
    let input: HtmlInputElement = find(root, selector).unchecked_into();
    input.set_value(value);
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    let event = web_sys::Event::new_with_event_init_dict("input", &init).unwrap();
    input.dispatch_event(&event).unwrap();
}

/// Submits a form the way Enter in one of its fields does.
fn submit(root: &HtmlElement, selector: &str) {
    let form: HtmlFormElement = find(root, selector).unchecked_into();
    form.request_submit().unwrap();
}

fn click(root: &HtmlElement, selector: &str) {
    find(root, selector).unchecked_into::<HtmlElement>().click();
}

async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

/// Waits up to 5 s for `f` to hold, letting effects and timers run.
async fn until(what: &str, f: impl Fn() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        sleep(10).await;
    }
    panic!("timed out waiting for {what}");
}

fn line(key: u64, text: &str, mine: bool, delivery: Delivery) -> ChatLine {
    ChatLine {
        key,
        from: if mine { "me" } else { "bob" }.into(),
        name: if mine { "Me" } else { "Bob" }.into(),
        text: text.into(),
        timestamp: 1_700_000_000_000,
        mine,
        delivery,
    }
}

fn mount_message_list(
    root: &HtmlElement,
    lines: RwSignal<Vec<ChatLine>>,
    retried: RwSignal<Option<u64>>,
) -> impl Sized {
    mount_to(root.clone(), move || {
        view! {
            <MessageList
                lines=lines
                label="Messages in lobby".to_owned()
                on_retry=Callback::new(move |key| retried.set(Some(key)))
            />
        }
    })
}

#[wasm_bindgen_test]
async fn message_text_is_rendered_as_text_not_html() {
    let root = container();
    let attack = "<img src=x onerror=alert(1)>";
    let lines = RwSignal::new(vec![line(1, attack, false, Delivery::Received)]);
    let _mounted = mount_message_list(&root, lines, RwSignal::new(None));
    tick().await;
    assert!(
        root.query_selector("img").unwrap().is_none(),
        "no element was injected"
    );
    assert_eq!(text(&root, ".msg .text"), attack);
}

#[wasm_bindgen_test]
async fn own_message_shows_pending_then_delivered() {
    let root = container();
    let lines = RwSignal::new(vec![line(1, "hello", true, Delivery::Pending)]);
    let _mounted = mount_message_list(&root, lines, RwSignal::new(None));
    tick().await;
    let msg = find(&root, ".msg");
    assert!(msg.class_list().contains("mine"));
    assert_eq!(
        msg.get_attribute("data-delivery").as_deref(),
        Some("pending")
    );
    assert_eq!(text(&root, ".msg .delivery"), "sending…");
    assert!(text(&root, ".msg .meta").contains("(you)"));
    lines.update(|lines| lines[0].delivery = Delivery::Delivered);
    until("the line to turn delivered", || {
        text(&root, ".msg .delivery") == "delivered"
    })
    .await;
    assert_eq!(find_all(&root, ".msg").len(), 1);
}

#[wasm_bindgen_test]
async fn failed_message_offers_retry_with_its_key() {
    let root = container();
    let retried = RwSignal::new(None);
    let lines = RwSignal::new(vec![
        line(1, "from bob", false, Delivery::Received),
        line(
            7,
            "lost",
            true,
            Delivery::Failed("socket closed before the ack".into()),
        ),
    ]);
    let _mounted = mount_message_list(&root, lines, retried);
    tick().await;
    assert_eq!(
        find_all(&root, ".retry").len(),
        1,
        "only the failed line offers a retry"
    );
    assert!(text(&root, "[data-delivery=failed]").contains("socket closed before the ack"));
    click(&root, ".retry");
    assert_eq!(retried.get_untracked(), Some(7));
}

#[wasm_bindgen_test]
async fn a_burst_of_lines_all_render_in_order() {
    let root = container();
    let lines = RwSignal::new(Vec::new());
    let _mounted = mount_message_list(&root, lines, RwSignal::new(None));
    // One update per message, with no await in between: nothing may be coalesced away.
    for key in 1..=200 {
        lines.update(|lines| lines.push(line(key, &format!("m{key}"), false, Delivery::Received)));
    }
    until("200 rows", || find_all(&root, ".msg").len() == 200).await;
    let texts: Vec<String> = find_all(&root, ".msg .text")
        .iter()
        .map(|e| e.text_content().unwrap_or_default())
        .collect();
    let expected: Vec<String> = (1..=200).map(|k| format!("m{k}")).collect();
    assert_eq!(texts, expected);
}

#[wasm_bindgen_test]
async fn status_bar_counts_down_and_offers_reconnect() {
    let root = container();
    let state = RwSignal::new(ConnectionState::Reconnecting {
        attempt: 2,
        at: 10_000,
    });
    let now = RwSignal::new(7_000u64);
    let reconnects = RwSignal::new(0);
    let _mounted = mount_to(root.clone(), move || {
        view! {
            <StatusBar
                state=state
                now=now
                nickname=Some("Alice".to_owned())
                on_reconnect=Callback::new(move |()| reconnects.update(|n| *n += 1))
            />
        }
    });
    tick().await;
    assert_eq!(
        text(&root, ".status-label"),
        "Reconnecting in 3 s (attempt 2)"
    );
    assert_eq!(
        text(&root, "[role=status]"),
        "Connection lost, reconnecting"
    );
    assert!(text(&root, ".me").contains("Alice"));
    now.set(8_500);
    until("the countdown to tick", || {
        text(&root, ".status-label") == "Reconnecting in 2 s (attempt 2)"
    })
    .await;
    click(&root, ".reconnect");
    assert_eq!(reconnects.get_untracked(), 1);
    state.set(ConnectionState::Open);
    until("the button to go", || {
        root.query_selector(".reconnect").unwrap().is_none()
    })
    .await;
    assert_eq!(text(&root, ".status-label"), "Connected");
    assert_eq!(
        find(&root, ".status").get_attribute("data-tone").as_deref(),
        Some("ok")
    );
}

#[wasm_bindgen_test]
async fn status_bar_says_offline() {
    let root = container();
    let _mounted = mount_to(root.clone(), move || {
        view! {
            <StatusBar
                state=ConnectionState::Offline
                now=0u64
                nickname={ None::<String> }
                on_reconnect=Callback::new(|()| {})
            />
        }
    });
    tick().await;
    assert_eq!(
        text(&root, ".status-label"),
        "Offline: waiting for the network"
    );
    assert!(root.query_selector(".reconnect").unwrap().is_some());
}

#[wasm_bindgen_test]
async fn composer_sends_on_enter_and_clears_the_field() {
    let root = container();
    let sent = RwSignal::new(Vec::<String>::new());
    let typed = RwSignal::new(0);
    let _mounted = mount_to(root.clone(), move || {
        view! {
            <Composer
                room="lobby".to_owned()
                on_send=Callback::new(move |text: String| {
                    sent.update(|sent| sent.push(text));
                    Ok(())
                })
                on_typing=Callback::new(move |()| typed.update(|n| *n += 1))
            />
        }
    });
    tick().await;
    assert_eq!(text(&root, "label"), "Message lobby");
    type_into(&root, "input", "hello there");
    assert_eq!(typed.get_untracked(), 1, "each edit reports typing");
    submit(&root, "form");
    assert_eq!(sent.get_untracked(), ["hello there"]);
    until("the field to clear", || {
        find(&root, "input")
            .unchecked_into::<HtmlInputElement>()
            .value()
            .is_empty()
    })
    .await;
    submit(&root, "form");
    assert_eq!(
        sent.get_untracked().len(),
        1,
        "an empty field sends nothing"
    );
}

#[wasm_bindgen_test]
async fn composer_keeps_the_text_when_sending_fails() {
    let root = container();
    let _mounted = mount_to(root.clone(), move || {
        view! {
            <Composer
                room="lobby".to_owned()
                on_send=Callback::new(|_: String| Err("Join a room first.".to_owned()))
                on_typing=Callback::new(|()| {})
            />
        }
    });
    tick().await;
    type_into(&root, "input", "kept");
    submit(&root, "form");
    until("the error", || {
        text(&root, "[role=alert]") == "Join a room first."
    })
    .await;
    assert_eq!(
        find(&root, "input")
            .unchecked_into::<HtmlInputElement>()
            .value(),
        "kept"
    );
}

#[wasm_bindgen_test]
async fn nickname_form_refuses_a_blank_name_and_submits_a_trimmed_one() {
    let root = container();
    let names = RwSignal::new(Vec::<String>::new());
    let _mounted = mount_to(root.clone(), move || {
        view! {
            <NicknameForm on_submit=Callback::new(move |name: String| {
                names.update(|names| names.push(name));
                Ok(())
            }) />
        }
    });
    tick().await;
    assert_eq!(text(&root, "label[for=nickname]"), "Pick a nickname");
    type_into(&root, "#nickname", "   ");
    submit(&root, "form");
    until("the error", || !text(&root, "#nickname-error").is_empty()).await;
    assert!(names.get_untracked().is_empty());
    assert_eq!(
        find(&root, "#nickname")
            .get_attribute("aria-invalid")
            .as_deref(),
        Some("true")
    );
    type_into(&root, "#nickname", "  Alice ");
    submit(&root, "form");
    assert_eq!(names.get_untracked(), ["Alice"]);
}

#[wasm_bindgen_test]
async fn room_list_joins_selects_and_leaves() {
    let root = container();
    let rooms = RwSignal::new(vec![
        RoomSummary {
            name: "lobby".into(),
            unread: 0,
            joined: true,
        },
        RoomSummary {
            name: "random".into(),
            unread: 3,
            joined: false,
        },
    ]);
    let current = RwSignal::new(Some("lobby".to_owned()));
    let joins = RwSignal::new(Vec::<String>::new());
    let selected = RwSignal::new(None::<String>);
    let left = RwSignal::new(None::<String>);
    let _mounted = mount_to(root.clone(), move || {
        view! {
            <RoomList
                rooms=rooms
                current=current
                on_join=Callback::new(move |name: String| {
                    joins.update(|joins| joins.push(name));
                    Ok(())
                })
                on_select=Callback::new(move |name: String| selected.set(Some(name)))
                on_leave=Callback::new(move |name: String| left.set(Some(name)))
            />
        }
    });
    tick().await;
    let buttons = find_all(&root, ".room-button");
    assert_eq!(buttons.len(), 2);
    assert_eq!(
        buttons[0].get_attribute("aria-current").as_deref(),
        Some("true")
    );
    assert_eq!(buttons[1].get_attribute("aria-current"), None);
    assert!(text(&root, ".badge").contains('3'));
    assert!(
        find_all(&root, ".room-item")[1]
            .class_list()
            .contains("joining")
    );

    type_into(&root, "#room-name", "games");
    submit(&root, ".join-form");
    assert_eq!(joins.get_untracked(), ["games"]);

    buttons[1].unchecked_ref::<HtmlElement>().click();
    assert_eq!(selected.get_untracked().as_deref(), Some("random"));
    click(&root, "[aria-label='Leave lobby']");
    assert_eq!(left.get_untracked().as_deref(), Some("lobby"));
}

#[wasm_bindgen_test]
async fn member_list_counts_and_marks_you() {
    let root = container();
    let members = RwSignal::new(vec![
        MemberEntry {
            user_id: "a".into(),
            name: "Alice".into(),
            me: true,
        },
        MemberEntry {
            user_id: "b".into(),
            name: "Bob".into(),
            me: false,
        },
    ]);
    let _mounted = mount_to(
        root.clone(),
        move || view! { <MemberList members=members /> },
    );
    tick().await;
    assert_eq!(text(&root, "summary"), "2 members");
    let items = find_all(&root, ".member-list li");
    assert_eq!(items[0].text_content().as_deref(), Some("Alice (you)"));
    assert_eq!(items[1].text_content().as_deref(), Some("Bob"));
    members.update(|m| m.truncate(1));
    until("the count to drop", || text(&root, "summary") == "1 member").await;
}

#[wasm_bindgen_test]
async fn room_view_shows_who_is_typing_and_the_joining_state() {
    let root = container();
    let typing = RwSignal::new(None::<String>);
    let joined = RwSignal::new(false);
    let _mounted = mount_to(root.clone(), move || {
        view! {
            <RoomView
                room="lobby".to_owned()
                joined=joined
                lines={ Vec::<ChatLine>::new() }
                members={ Vec::<MemberEntry>::new() }
                typing=typing
                on_send=Callback::new(|_: String| Ok(()))
                on_typing=Callback::new(|()| {})
                on_retry=Callback::new(|_: u64| {})
            />
        }
    });
    tick().await;
    assert!(text(&root, "h2").contains("lobby"));
    assert!(
        !find(&root, ".joining")
            .unchecked_into::<HtmlElement>()
            .hidden()
    );
    assert_eq!(text(&root, ".typing"), "");
    typing.set(Some("Alice is typing…".into()));
    joined.set(true);
    until("the indicator", || {
        text(&root, ".typing") == "Alice is typing…"
    })
    .await;
    assert!(
        find(&root, ".joining")
            .unchecked_into::<HtmlElement>()
            .hidden()
    );
}

fn unreachable_socket_options() -> SocketOptions {
    // Browsers refuse port 1: Chromium and Firefox fail the attempt at once, WebKit fires an
    // error but no close, so there the attempt ends at the connect timeout. Reconnects come
    // every 20 ms.
    SocketOptions::default()
        .connect_timeout(Duration::from_millis(200))
        .reconnect(
            ReconnectOptions::default()
                .initial_delay(Duration::from_millis(20))
                .max_delay(Duration::from_millis(20))
                .jitter(0.0)
                .max_attempts(None),
        )
}

#[wasm_bindgen_test]
async fn use_socket_closes_on_cleanup_and_never_reconnects() {
    let root = container();
    let before = live_listeners();
    let escaped = RwSignal::new(None);
    let mounted = mount_to(root.clone(), move || {
        let socket = use_socket("ws://127.0.0.1:1/ws", unreachable_socket_options()).unwrap();
        escaped.set(Some(socket));
        view! { <p>{move || format!("{:?}", socket.state.get())}</p> }
    });
    until("a reconnect to be scheduled", || {
        root.text_content()
            .unwrap_or_default()
            .contains("Reconnecting")
    })
    .await;
    assert!(
        live_listeners() > before,
        "the socket listens while mounted"
    );
    drop(mounted);
    assert_eq!(live_listeners(), before, "cleanup detached every listener");
    // Many reconnect delays later, nothing came back to life.
    sleep(200).await;
    assert_eq!(live_listeners(), before);
    let socket = escaped.get_untracked().unwrap();
    assert_eq!(socket.send("typing", &()), Err(SendError::Closed));
    assert_eq!(root.text_content().as_deref(), Some(""));
}

#[wasm_bindgen_test]
async fn use_socket_close_stops_and_open_starts_again() {
    let root = container();
    let escaped = RwSignal::new(None);
    let _mounted = mount_to(root.clone(), move || {
        let socket = use_socket("ws://127.0.0.1:1/ws", unreachable_socket_options()).unwrap();
        escaped.set(Some(socket));
        view! { <p>{move || format!("{:?} {}", socket.ready_state.get(), socket.is_connected.get())}</p> }
    });
    let socket = escaped.get_untracked().unwrap();
    assert_eq!(text(&root, "p"), "Connecting false");
    socket.close();
    until("closed", || text(&root, "p") == "Closed false").await;
    sleep(100).await;
    assert_eq!(
        socket.state.get_untracked(),
        ConnectionState::Closed,
        "no reconnect after close"
    );
    assert_eq!(socket.send("typing", &()), Err(SendError::Closed));
    socket.open();
    until("connecting again", || {
        text(&root, "p") == "Connecting false"
    })
    .await;
}
