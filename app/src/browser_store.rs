//! What the browser keeps for the chat: the nickname in `localStorage` between visits ([`load`],
//! [`save`]), with token auth the user id the server's dev issuer gave ([`user`], [`save_user`]),
//! and in `sessionStorage`, for the tab's next reload, its resume token and its rooms
//! ([`Session`]).
//!
//! Read and written as properties of the storage objects through `Reflect` rather than with
//! web-sys's `Storage`: the first page already ships the JavaScript glue for `Reflect.get` and
//! `Reflect.set` (reading JSON uses them), while web-sys's `Storage` brings glue of its own and
//! cost the first load about 1 KB gzipped, against a budget of 100 KB. Storage may be refused
//! altogether (sandboxed frames, some private modes, a full quota): then nothing is remembered,
//! and nothing else changes.

use js_sys::Reflect;
use wasm_bindgen::JsValue;

/// The `localStorage` key of the nickname. None of these keys is the name of a `Storage` method,
/// so reading one as a property can only give the item.
pub const KEY: &str = "tether:nickname";

/// The nickname saved on an earlier visit, if any.
pub fn load() -> Option<String> {
    get("localStorage", KEY)
}

/// Remembers `name` for the next visit.
pub fn save(name: &str) {
    set("localStorage", KEY, name);
}

/// The `localStorage` key of the user id that `POST /dev/token` gave (token auth).
pub const USER_KEY: &str = "tether:user";

/// The user id an earlier sign-in got from the server's dev issuer, if any: asked for again, so
/// that the same person is the same user across reloads and visits (every tab of this browser
/// too).
pub fn user() -> Option<String> {
    get("localStorage", USER_KEY)
}

/// Remembers the user id the dev issuer gave.
pub fn save_user(user: &str) {
    set("localStorage", USER_KEY, user);
}

/// What a tab keeps in `sessionStorage` so that a reload shows the chat as it was: the resume
/// token (the server gives the same client id back, so one's own messages stay one's own and the
/// rooms see nobody leave and come back) and the rooms open, the one shown first.
/// `sessionStorage` belongs to one tab: without token auth, two tabs are two members (with it,
/// two tabs of one user are one member, their connections apart).
#[derive(Debug, Clone, Copy)]
pub struct Session;

impl Session {
    /// The `sessionStorage` key of the resume token.
    pub const TOKEN: &str = "tether:resume";
    /// The `sessionStorage` key of the rooms: the one shown, then all of them, one per line.
    pub const ROOMS: &str = "tether:rooms";

    /// The resume token of this tab's last connection.
    pub fn token() -> Option<String> {
        get("sessionStorage", Self::TOKEN)
    }

    /// Keeps the resume token for the next reload.
    pub fn save_token(token: &str) {
        set("sessionStorage", Self::TOKEN, token);
    }

    /// The rooms this tab had open, in the order of its room list, and the one it showed.
    pub fn rooms() -> (Vec<String>, Option<String>) {
        let saved = get("sessionStorage", Self::ROOMS).unwrap_or_default();
        let mut lines = saved.lines();
        let shown = lines
            .next()
            .filter(|shown| !shown.is_empty())
            .map(str::to_owned);
        (lines.map(str::to_owned).collect(), shown)
    }

    /// Whether this tab had rooms open, without reading them.
    pub fn had_rooms() -> bool {
        get("sessionStorage", Self::ROOMS).is_some_and(|saved| saved.bytes().any(|b| b == b'\n'))
    }

    /// Keeps the rooms open, in order, and the one `shown`, for the next reload: the shown one
    /// on the first line (empty for none), then the rooms, one per line (a name with a line
    /// break, which the server refuses anyway, is left out).
    pub fn save_rooms<'a>(shown: Option<&'a str>, rooms: impl Iterator<Item = &'a str>) {
        let mut saved = String::from(shown.filter(|s| !s.contains(['\n', '\r'])).unwrap_or(""));
        for room in rooms.filter(|room| !room.contains(['\n', '\r'])) {
            saved.push('\n');
            saved.push_str(room);
        }
        set("sessionStorage", Self::ROOMS, &saved);
    }
}

fn get(area: &str, key: &str) -> Option<String> {
    Reflect::get(&storage(area)?, &JsValue::from_str(key))
        .ok()?
        .as_string()
}

fn set(area: &str, key: &str, value: &str) {
    if let Some(storage) = storage(area) {
        // Best effort, as above: a page that cannot store it starts afresh next time.
        let _ = Reflect::set(&storage, &JsValue::from_str(key), &JsValue::from_str(value));
    }
}

/// The page's `localStorage` or `sessionStorage` (`area`), unless it is unavailable.
fn storage(area: &str) -> Option<JsValue> {
    let window = web_sys::window()?;
    // Reading either throws where storage is disabled.
    Reflect::get(&window, &JsValue::from_str(area))
        .ok()
        .filter(JsValue::is_object)
}
