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
    browser_store::{self, Session},
    chat_line::{ChatLine, Delivery, LineKind},
    composer::Composer,
    member_list::{MemberEntry, MemberList},
    message_list::MessageList,
    nickname_form::NicknameForm,
    room::Top,
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
        kind: LineKind::Message,
        key,
        from: if mine { "me" } else { "bob" }.into(),
        name: if mine { "Me" } else { "Bob" }.into(),
        text: text.into(),
        timestamp: 1_700_000_000_000,
        mine,
        delivery,
        seq: None,
        cid: None,
    }
}

fn mount_message_list(
    root: &HtmlElement,
    lines: RwSignal<Vec<ChatLine>>,
    retried: RwSignal<Option<u64>>,
) -> impl Sized {
    mount_message_list_removing(root, lines, retried, RwSignal::new(None))
}

fn mount_message_list_removing(
    root: &HtmlElement,
    lines: RwSignal<Vec<ChatLine>>,
    retried: RwSignal<Option<u64>>,
    removed: RwSignal<Option<u64>>,
) -> impl Sized {
    mount_to(root.clone(), move || {
        view! {
            <MessageList
                lines=lines
                label="Messages in lobby".to_owned()
                on_retry=Callback::new(move |key| retried.set(Some(key)))
                on_remove=Callback::new(move |key| removed.set(Some(key)))
            />
        }
    })
}

/// The id of the element that has the focus, if it has one.
fn focused_id() -> Option<String> {
    web_sys::window()
        .unwrap()
        .document()
        .unwrap()
        .active_element()
        .map(|element| element.id())
}

/// Adds the app's stylesheets to the page (the chat screen adds its own in the app), once.
fn add_app_styles() {
    let head = web_sys::window()
        .unwrap()
        .document()
        .unwrap()
        .head()
        .unwrap();
    if head.query_selector("style[data-app]").unwrap().is_none() {
        let css = concat!(
            include_str!("../style.css"),
            include_str!("../src/chat_screen.css")
        );
        head.insert_adjacent_html("beforeend", &format!("<style data-app>{css}</style>"))
            .unwrap();
    }
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
    assert_eq!(
        focused_id(),
        Some(String::new()),
        "the list keeps the focus, not the page's body"
    );
    assert!(
        web_sys::window()
            .unwrap()
            .document()
            .unwrap()
            .active_element()
            .is_some_and(|e| e.class_list().contains("messages"))
    );
}

#[wasm_bindgen_test]
async fn an_undelivered_message_can_be_removed_and_a_refused_one_not_retried() {
    let root = container();
    let retried = RwSignal::new(None);
    let removed = RwSignal::new(None);
    let lines = RwSignal::new(vec![
        line(3, "timed out", true, Delivery::Failed("no answer".into())),
        line(
            4,
            &"x".repeat(10_000),
            true,
            Delivery::Refused("text is longer than 8192 bytes".into()),
        ),
    ]);
    let _mounted = mount_message_list_removing(&root, lines, retried, removed);
    tick().await;
    let items = find_all(&root, ".msg");
    let buttons = |item: &Element| -> Vec<String> {
        let list = item.query_selector_all("button").unwrap();
        (0..list.length())
            .filter_map(|i| list.item(i))
            .map(|b| b.text_content().unwrap_or_default())
            .collect()
    };
    assert_eq!(buttons(&items[0]), ["Retry", "Remove"]);
    assert_eq!(
        buttons(&items[1]),
        ["Remove"],
        "the server would refuse it again: no retry"
    );
    assert!(
        items[1]
            .text_content()
            .unwrap()
            .contains("longer than 8192")
    );
    items[1]
        .query_selector(".remove")
        .unwrap()
        .unwrap()
        .unchecked_into::<HtmlElement>()
        .click();
    assert_eq!(removed.get_untracked(), Some(4));
    assert_eq!(retried.get_untracked(), None);
}

#[wasm_bindgen_test]
async fn joins_and_leaves_show_between_the_messages() {
    let root = container();
    let event = |key, kind, name: &str| ChatLine {
        kind,
        name: name.into(),
        text: String::new(),
        ..line(key, "", false, Delivery::Received)
    };
    let lines = RwSignal::new(vec![
        event(1, LineKind::Joined, "Bob"),
        line(2, "hi", false, Delivery::Received),
        event(3, LineKind::Left, "Bob"),
    ]);
    let _mounted = mount_message_list(&root, lines, RwSignal::new(None));
    tick().await;
    let rows: Vec<String> = find_all(&root, ".message-list > li")
        .iter()
        .map(|li| li.text_content().unwrap_or_default())
        .collect();
    assert_eq!(rows.len(), 3);
    assert!(rows[0].starts_with("Bob joined "), "{rows:?}");
    assert!(rows[2].starts_with("Bob left "), "{rows:?}");
    assert_eq!(find_all(&root, ".event").len(), 2);
    assert_eq!(find_all(&root, ".msg").len(), 1, "events are not messages");
}

#[wasm_bindgen_test]
async fn names_and_texts_take_their_own_direction() {
    let root = container();
    let lines = RwSignal::new(vec![line(1, "שלום world", false, Delivery::Received)]);
    let _mounted = mount_message_list(&root, lines, RwSignal::new(None));
    tick().await;
    for selector in [".msg .text", ".msg .from"] {
        assert_eq!(
            find(&root, selector).get_attribute("dir").as_deref(),
            Some("auto"),
            "{selector}"
        );
    }
    // An auto paragraph that starts with Hebrew reads right to left.
    let style = web_sys::window()
        .unwrap()
        .get_computed_style(&find(&root, ".msg .text"))
        .unwrap()
        .unwrap();
    assert_eq!(style.get_property_value("direction").unwrap(), "rtl");
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
async fn composer_warns_near_the_limit_and_keeps_a_text_over_it() {
    let root = container();
    let sent = RwSignal::new(Vec::<String>::new());
    let _mounted = mount_to(root.clone(), move || {
        view! {
            <Composer
                room="lobby".to_owned()
                on_send=Callback::new(move |text: String| {
                    sent.update(|sent| sent.push(text));
                    Ok(())
                })
                on_typing=Callback::new(|()| {})
            />
        }
    });
    tick().await;
    assert_eq!(
        find(&root, "input").get_attribute("dir").as_deref(),
        Some("auto")
    );
    type_into(&root, "input", &"a".repeat(100));
    until("no warning for a short text", || {
        text(&root, ".limit").is_empty()
    })
    .await;
    type_into(&root, "input", &"a".repeat(8000));
    until("the warning", || {
        text(&root, ".limit") == "192 of 8,192 bytes left."
    })
    .await;
    let over = "a".repeat(10_000);
    type_into(&root, "input", &over);
    until("the field to be marked invalid", || {
        find(&root, "input")
            .get_attribute("aria-invalid")
            .as_deref()
            == Some("true")
    })
    .await;
    submit(&root, "form");
    until("the refusal", || {
        text(&root, "[role=alert]").starts_with("Too long to send: 1,808 bytes over")
    })
    .await;
    assert!(sent.get_untracked().is_empty(), "not sent");
    assert_eq!(
        find(&root, "input")
            .unchecked_into::<HtmlInputElement>()
            .value(),
        over,
        "the text stays for the user to shorten"
    );
    type_into(&root, "input", &"a".repeat(8192));
    submit(&root, "form");
    assert_eq!(sent.get_untracked().len(), 1, "exactly the limit is sent");
}

#[wasm_bindgen_test]
async fn older_messages_load_from_the_button_and_keep_the_reading_place() {
    let root = container();
    add_app_styles();
    root.style().set_property("height", "300px").unwrap();
    root.style().set_property("display", "flex").unwrap();
    let at = |seq: u64| ChatLine {
        seq: Some(seq),
        ..line(1000 + seq, &format!("m{seq}"), false, Delivery::Received)
    };
    let lines = RwSignal::new((51..=100).map(at).collect::<Vec<_>>());
    let top = RwSignal::new(Some(Top::More));
    let asked = RwSignal::new(0);
    let _mount = mount_to(root.clone(), move || {
        view! {
            <MessageList
                lines=lines
                label="Messages in lobby".to_owned()
                on_retry=Callback::new(|_| {})
                on_remove=Callback::new(|_| {})
                top=top
                on_older=Callback::new(move |()| asked.update(|n| *n += 1))
            />
        }
    });
    tick().await;
    click(&root, "button.older");
    assert_eq!(asked.get_untracked(), 1, "the button asks for a page");
    // Scrolled to the top, the list asks by itself, while there are older ones.
    let list: HtmlElement = find(&root, ".messages").unchecked_into();
    until("the list to scroll", || {
        list.scroll_height() > list.client_height()
    })
    .await;
    // From the bottom, where a list with new messages sits, up to the top.
    list.set_scroll_top(list.scroll_height());
    sleep(50).await;
    list.set_scroll_top(0);
    until("scrolling up to ask", || asked.get_untracked() == 2).await;
    top.set(Some(Top::Loading));
    tick().await;
    assert_eq!(text(&root, ".older"), "Loading older messages…");
    // The page arrives: the first message read stays where it was on screen.
    let reading = find(&root, ".msg").get_bounding_client_rect().top();
    lines.update(|lines| lines.splice(0..0, (1..=50).map(at)).for_each(drop));
    top.set(Some(Top::Start));
    sleep(50).await;
    let m51 = find_all(&root, ".msg")
        .into_iter()
        .find(|li| li.text_content().unwrap_or_default().contains("m51"))
        .unwrap();
    let moved = (m51.get_bounding_client_rect().top() - reading).abs();
    assert!(moved < 40.0, "the message being read moved {moved} px");
    assert_eq!(
        text(&root, ".older"),
        "This is the start of the conversation."
    );
    assert_eq!(find_all(&root, ".msg").len(), 100);
}

#[wasm_bindgen_test]
async fn a_room_that_could_not_be_recovered_says_so_and_offers_a_reload() {
    let root = container();
    let gap = RwSignal::new(None::<String>);
    let reloads = RwSignal::new(0);
    let _mount = mount_to(root.clone(), move || {
        view! {
            <RoomView
                room="lobby".to_owned()
                joined=true
                lines={ Vec::<ChatLine>::new() }
                members={ Vec::<MemberEntry>::new() }
                typing={ None::<String> }
                on_send=Callback::new(|_: String| Ok(()))
                on_typing=Callback::new(|()| {})
                on_retry=Callback::new(|_: u64| {})
                on_remove=Callback::new(|_: u64| {})
                gap=gap
                on_reload=Callback::new(move |()| reloads.update(|n| *n += 1))
            />
        }
    });
    tick().await;
    assert!(find_all(&root, ".gap").is_empty());
    gap.set(Some("The server lost this room's history.".into()));
    tick().await;
    assert_eq!(
        find(&root, ".gap").get_attribute("role").as_deref(),
        Some("alert")
    );
    assert!(text(&root, ".gap").contains("lost this room's history"));
    click(&root, ".gap button");
    assert_eq!(reloads.get_untracked(), 1);
}

#[wasm_bindgen_test]
fn a_tab_keeps_its_resume_token_and_rooms_for_a_reload() {
    Session::save_token("token-1");
    assert_eq!(Session::token().as_deref(), Some("token-1"));
    Session::save_rooms(Some("b"), ["a", "b", "c\nd", "e"].into_iter());
    assert!(Session::had_rooms());
    let (rooms, shown) = Session::rooms();
    assert_eq!(
        rooms,
        ["a", "b", "e"],
        "in order, without a name that cannot be one"
    );
    assert_eq!(shown.as_deref(), Some("b"));
    Session::save_rooms(None, ["a"].into_iter());
    assert_eq!(Session::rooms(), (vec!["a".to_owned()], None));
    Session::save_rooms(None, std::iter::empty());
    assert!(!Session::had_rooms());
    assert_eq!(Session::rooms(), (Vec::new(), None));
}

#[wasm_bindgen_test]
async fn nickname_form_starts_with_a_remembered_name() {
    let root = container();
    let _mounted = mount_to(root.clone(), move || {
        view! {
            <NicknameForm
                on_submit=Callback::new(|_: String| Ok(()))
                initial="Zoë".to_owned()
            />
        }
    });
    tick().await;
    let input: HtmlInputElement = find(&root, "#nickname").unchecked_into();
    assert_eq!(input.value(), "Zoë");
    assert_eq!(input.get_attribute("dir").as_deref(), Some("auto"));
}

#[wasm_bindgen_test]
fn the_nickname_is_kept_in_local_storage() {
    browser_store::save("דנה");
    assert_eq!(browser_store::load().as_deref(), Some("דנה"));
    browser_store::save("Dana");
    assert_eq!(browser_store::load().as_deref(), Some("Dana"));
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
    // The app shows every room after a "#": one typed is not part of the name.
    type_into(&root, "#room-name", "#hash");
    submit(&root, ".join-form");
    // Left empty, the field joins the room it suggests.
    type_into(&root, "#room-name", "");
    submit(&root, ".join-form");
    assert_eq!(joins.get_untracked(), ["games", "hash", "lobby"]);
    assert_eq!(
        find(&root, "#room-name")
            .get_attribute("placeholder")
            .as_deref(),
        Some("lobby")
    );

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
        move || view! { <MemberList members=members joined=true /> },
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
                on_remove=Callback::new(|_: u64| {})
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

#[wasm_bindgen_test]
async fn escape_closes_the_member_list() {
    let root = container();
    let members = vec![MemberEntry {
        user_id: "a".into(),
        name: "Alice".into(),
        me: true,
    }];
    let _mounted = mount_to(
        root.clone(),
        move || view! { <MemberList members=members.clone() joined=true /> },
    );
    tick().await;
    click(&root, "summary");
    until("the list to open", || {
        find(&root, "details").has_attribute("open")
    })
    .await;
    let init = web_sys::KeyboardEventInit::new();
    init.set_key("Escape");
    init.set_bubbles(true);
    let escape =
        web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).unwrap();
    find(&root, "summary").dispatch_event(&escape).unwrap();
    assert!(!find(&root, "details").has_attribute("open"), "closed");
}

#[wasm_bindgen_test]
async fn the_member_count_is_not_shown_while_joining() {
    let root = container();
    let joined = RwSignal::new(false);
    let members = RwSignal::new(Vec::<MemberEntry>::new());
    let _mounted = mount_to(root.clone(), move || {
        view! {
            <RoomView
                room="lobby".to_owned()
                joined=joined
                lines={ Vec::<ChatLine>::new() }
                members=members
                typing={ None::<String> }
                on_send=Callback::new(|_: String| Ok(()))
                on_typing=Callback::new(|()| {})
                on_retry=Callback::new(|_: u64| {})
                on_remove=Callback::new(|_: u64| {})
            />
        }
    });
    tick().await;
    // Rejoining after a reconnect: nobody is known to be in the room, and "0 members" would be
    // wrong.
    let details = || find(&root, "details").unchecked_into::<HtmlElement>();
    assert!(details().hidden());
    members.set(vec![MemberEntry {
        user_id: "a".into(),
        name: "Alice".into(),
        me: true,
    }]);
    joined.set(true);
    until("the count", || {
        !details().hidden() && text(&root, "summary") == "1 member"
    })
    .await;
}

#[wasm_bindgen_test]
async fn a_hash_typed_before_a_room_name_is_shown_once() {
    let root = container();
    let room = RwSignal::new(String::new());
    let _mounted = mount_to(root.clone(), move || {
        view! {
            <RoomList
                rooms={ Vec::<RoomSummary>::new() }
                current={ None::<String> }
                on_join=Callback::new(move |name: String| {
                    room.set(name);
                    Ok(())
                })
                on_select=Callback::new(|_: String| {})
                on_leave=Callback::new(|_: String| {})
            />
            <RoomView
                room=room
                joined=true
                lines={ Vec::<ChatLine>::new() }
                members={ Vec::<MemberEntry>::new() }
                typing={ None::<String> }
                on_send=Callback::new(|_: String| Ok(()))
                on_typing=Callback::new(|()| {})
                on_retry=Callback::new(|_: u64| {})
                on_remove=Callback::new(|_: u64| {})
            />
        }
    });
    tick().await;
    type_into(&root, "#room-name", "#hash");
    submit(&root, ".join-form");
    until("the room", || text(&root, "h2") == "#hash").await;
    assert_eq!(
        find(&root, "h2 [dir=auto]").text_content().as_deref(),
        Some("hash")
    );
}

/// Mounts a room list whose leave buttons remove the room, as the app does.
fn mount_leaving_room_list(root: &HtmlElement, names: &[&str]) -> impl Sized {
    let rooms = RwSignal::new(
        names
            .iter()
            .map(|name| RoomSummary {
                name: (*name).into(),
                unread: 0,
                joined: true,
            })
            .collect::<Vec<_>>(),
    );
    mount_to(root.clone(), move || {
        view! {
            <RoomList
                rooms=rooms
                current={ None::<String> }
                on_join=Callback::new(|_: String| Ok(()))
                on_select=Callback::new(|_: String| {})
                on_leave=Callback::new(move |name: String| {
                    rooms.update(|rooms| rooms.retain(|r| r.name != name));
                })
            />
        }
    })
}

fn focused_text() -> String {
    web_sys::window()
        .unwrap()
        .document()
        .unwrap()
        .active_element()
        .and_then(|e| e.text_content())
        .unwrap_or_default()
}

#[wasm_bindgen_test]
async fn leaving_a_room_moves_the_focus_to_the_next_then_to_the_join_field() {
    let root = container();
    let _mounted = mount_leaving_room_list(&root, &["a", "b", "c"]);
    tick().await;
    click(&root, "[aria-label='Leave b']");
    until("the next room to take the focus", || focused_text() == "c").await;
    click(&root, "[aria-label='Leave c']");
    until("the room before to take it", || focused_text() == "a").await;
    click(&root, "[aria-label='Leave a']");
    until("the join field to take it", || {
        focused_id().as_deref() == Some("room-name")
    })
    .await;
}

#[wasm_bindgen_test]
async fn reconnect_now_hands_the_focus_to_the_field() {
    let root = container();
    let state = RwSignal::new(ConnectionState::Offline);
    let _mounted = mount_to(root.clone(), move || {
        view! {
            <StatusBar
                state=state
                now=0u64
                nickname={ None::<String> }
                on_reconnect=Callback::new(move |()| state.set(ConnectionState::Connecting))
            />
            <input id="nickname" type="text" />
        }
    });
    tick().await;
    find(&root, ".reconnect")
        .unchecked_into::<HtmlElement>()
        .focus()
        .unwrap();
    click(&root, ".reconnect");
    until("the button to go", || {
        root.query_selector(".reconnect").unwrap().is_none()
    })
    .await;
    assert_eq!(focused_id().as_deref(), Some("nickname"));
}

#[wasm_bindgen_test]
async fn a_128_byte_room_name_keeps_the_leave_button_in_the_panel() {
    add_app_styles();
    let root = container();
    root.set_attribute("style", "width: 800px; height: 400px; display: flex")
        .unwrap();
    let long = "r".repeat(128);
    let rooms = vec![RoomSummary {
        name: long.clone(),
        unread: 2,
        joined: true,
    }];
    let me = vec![MemberEntry {
        user_id: "a".into(),
        name: "A".into(),
        me: true,
    }];
    let _mounted = mount_to(root.clone(), move || {
        view! {
            <div class="chat">
                <RoomList
                    rooms=rooms.clone()
                    current=Some(long.clone())
                    on_join=Callback::new(|_: String| Ok(()))
                    on_select=Callback::new(|_: String| {})
                    on_leave=Callback::new(|_: String| {})
                />
                <main class="room-pane">
                    <RoomView
                        room=long.clone()
                        joined=true
                        lines={ Vec::<ChatLine>::new() }
                        members=me.clone()
                        typing={ None::<String> }
                        on_send=Callback::new(|_: String| Ok(()))
                        on_typing=Callback::new(|()| {})
                        on_retry=Callback::new(|_: u64| {})
                        on_remove=Callback::new(|_: u64| {})
                    />
                </main>
            </div>
        }
    });
    tick().await;
    let right = |selector: &str| find(&root, selector).get_bounding_client_rect().right();
    let panel = right(".rooms");
    assert!(
        right(".leave") <= panel + 0.5,
        "leave button at {} past the panel's edge {panel}",
        right(".leave")
    );
    assert!(
        right(".badge") <= panel + 0.5,
        "the unread count stays in too"
    );
    let header = right(".room-header");
    assert!(
        right(".members") <= header + 0.5,
        "the member count stays in the header"
    );
    assert!(header <= 800.5 + root.get_bounding_client_rect().left());
}
