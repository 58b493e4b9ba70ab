//! The nickname kept in the browser's `localStorage` between visits: [`load`] on the first
//! page, [`save`] once the chat screen shows.
//!
//! Read and written as a property of `localStorage` through `Reflect` rather than with web-sys's
//! `Storage`: the first page already ships the JavaScript glue for `Reflect.get` and
//! `Reflect.set` (reading JSON uses them), while web-sys's `Storage` brings glue of its own and
//! cost the first load about 1 KB gzipped, against a budget of 100 KB. Storage may be refused
//! altogether (sandboxed frames, some private modes, a full quota): then nothing is remembered,
//! and nothing else changes.

use js_sys::Reflect;
use wasm_bindgen::JsValue;

/// The `localStorage` key. Not the name of any `Storage` method, so reading it as a property
/// can only give the item.
pub const KEY: &str = "tether:nickname";

/// The nickname saved on an earlier visit, if any.
pub fn load() -> Option<String> {
    Reflect::get(&storage()?, &JsValue::from_str(KEY))
        .ok()?
        .as_string()
}

/// Remembers `name` for the next visit.
pub fn save(name: &str) {
    if let Some(storage) = storage() {
        // Best effort, as above: a page that cannot store it asks for the nickname next time.
        let _ = Reflect::set(&storage, &JsValue::from_str(KEY), &JsValue::from_str(name));
    }
}

/// The page's `localStorage`, unless it is unavailable.
fn storage() -> Option<JsValue> {
    let window = web_sys::window()?;
    // Reading `localStorage` throws where storage is disabled.
    Reflect::get(&window, &JsValue::from_str("localStorage"))
        .ok()
        .filter(JsValue::is_object)
}
