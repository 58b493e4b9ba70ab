//! [`JsonValue`]: JSON read with the browser's own parser.

use js_sys::{Array, JSON, Reflect};
use wasm_bindgen::JsValue;

/// A JSON value parsed by the browser's `JSON.parse`, read field by field.
///
/// Decoding with serde links serde_json's deserializer and a generated decoder per type into the
/// .wasm, tens of kilobytes for a handful of messages; reading what the browser already parsed
/// costs a few calls into JavaScript per field. [`Socket`](crate::Socket) reads acks this way,
/// and the chat app its messages. Every reader returns `None` for a missing field or a value of
/// another JSON type, so a message that does not fit is skipped, never a panic.
///
/// ```no_run
/// use tether_client::JsonValue;
///
/// let message = JsonValue::parse(r#"{"type":"joined","payload":{"roomId":"lobby","members":2}}"#);
/// let payload = message.as_ref().and_then(|m| m.get("payload"));
/// assert_eq!(payload.as_ref().and_then(|p| p.string("roomId")).as_deref(), Some("lobby"));
/// assert_eq!(payload.and_then(|p| p.get("members")).and_then(|m| m.as_u64()), Some(2));
/// ```
#[derive(Debug, Clone)]
pub struct JsonValue(JsValue);

impl JsonValue {
    /// Parses `text`; `None` if it is not JSON.
    pub fn parse(text: &str) -> Option<Self> {
        JSON::parse(text).ok().map(Self)
    }

    /// The field `key` of an object; `None` if this is not an object or the field is missing or
    /// `null`.
    pub fn get(&self, key: &str) -> Option<Self> {
        if !self.0.is_object() || Array::is_array(&self.0) {
            return None;
        }
        let value = Reflect::get(&self.0, &JsValue::from_str(key)).ok()?;
        (!value.is_undefined() && !value.is_null()).then_some(Self(value))
    }

    /// The field `key`, if it is a string.
    pub fn string(&self, key: &str) -> Option<String> {
        self.get(key)?.as_string()
    }

    /// This value, if it is a string.
    pub fn as_string(&self) -> Option<String> {
        self.0.as_string()
    }

    /// This value, if it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        self.0.as_f64()
    }

    /// This value, if it is a whole number from 0 to 2⁵³ − 1 (the integers JSON numbers hold
    /// exactly in a browser).
    pub fn as_u64(&self) -> Option<u64> {
        const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
        let n = self.as_f64()?;
        // `as` is exact here: `n` is whole and within u64's range.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        (n.fract() == 0.0 && (0.0..=MAX_SAFE).contains(&n)).then_some(n as u64)
    }

    /// This value, if it is `true` or `false`.
    pub fn as_bool(&self) -> Option<bool> {
        self.0.as_bool()
    }

    /// The items of this value, if it is an array.
    pub fn items(&self) -> Option<impl Iterator<Item = Self>> {
        Array::is_array(&self.0).then(|| Array::from(&self.0).into_iter().map(Self))
    }
}

/// Any JavaScript value, read the same way: the fields of a `fetch` response, say.
impl From<JsValue> for JsonValue {
    fn from(value: JsValue) -> Self {
        Self(value)
    }
}

/// The JavaScript value itself, to hand it back to the browser: a parsed `fetch` init, say.
impl AsRef<JsValue> for JsonValue {
    fn as_ref(&self) -> &JsValue {
        &self.0
    }
}
