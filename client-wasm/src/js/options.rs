//! The JavaScript options object, read into [`SocketOptions`].
//!
//! The wrapper hands the numbers and booleans over as one array in the order of [`NUMERIC`]
//! (`NaN` for an option not given; `true` and `false` as 1 and 0), which costs the wasm one
//! array instead of a property lookup per option; strings and arrays are read from the object
//! itself.
//!
//! Names are camelCase and mirror the Rust options; where the guide's `WebSocketClient` has an
//! option, its name is kept (`heartbeatInterval`, `heartbeatTimeout`, `reconnectInterval`,
//! `maxReconnectInterval`, `reconnectDecay`, `maxReconnectAttempts`). Durations are milliseconds.
//! A missing (or `undefined`) option keeps the Rust default.
//!
//! | option | Rust | default |
//! |---|---|---|
//! | `protocols` (string or array) | [`SocketOptions::protocols`] | none |
//! | `connectTimeout` | [`SocketOptions::connect_timeout`] | 10000 |
//! | `heartbeat` (boolean) | [`SocketOptions::heartbeat`] `Some`/`None` | true |
//! | `heartbeatInterval` | [`HeartbeatOptions::interval`] | 25000 |
//! | `heartbeatTimeout` | [`HeartbeatOptions::timeout`] | 10000 |
//! | `pingMessage` | [`HeartbeatOptions::ping`] | `{"type":"ping"}` |
//! | `pongMessage` | [`HeartbeatOptions::is_pong`] (the exact text) | `{"type":"pong"}` or `pong` |
//! | `reconnect` (boolean) | [`ReconnectOptions::enabled`] | true |
//! | `reconnectInterval` | [`ReconnectOptions::initial_delay`] | 1000 |
//! | `reconnectDecay` | [`ReconnectOptions::factor`] | 1.5 |
//! | `maxReconnectInterval` | [`ReconnectOptions::max_delay`] | 30000 |
//! | `reconnectJitter` | [`ReconnectOptions::jitter`] | 0.5 |
//! | `maxReconnectAttempts` (`Infinity`: never give up) | [`ReconnectOptions::max_attempts`] | 10 |
//! | `minUptime` | [`ReconnectOptions::min_uptime`] | 5000 |
//! | `reconnectOn`, `stopOn` (arrays of close codes) | [`ClosePolicy`] | see [`ClosePolicy`] |
//! | `maxQueuedMessages` | [`QueueOptions::max_messages`] | 1000 |
//! | `maxQueuedBytes` | [`QueueOptions::max_bytes`] | 1048576 |
//! | `highWaterMark` | [`SocketOptions::high_water_mark`] | none |
//! | `rejoin` | [`SocketOptions::rejoin`] | true |
//! | `immediate` | [`SocketOptions::immediate`] | true |
//!
//! [`HeartbeatOptions::interval`]: crate::HeartbeatOptions::interval
//! [`HeartbeatOptions::timeout`]: crate::HeartbeatOptions::timeout
//! [`HeartbeatOptions::ping`]: crate::HeartbeatOptions::ping
//! [`HeartbeatOptions::is_pong`]: crate::HeartbeatOptions::is_pong
//! [`ReconnectOptions::enabled`]: crate::ReconnectOptions::enabled
//! [`ReconnectOptions::initial_delay`]: crate::ReconnectOptions::initial_delay
//! [`ReconnectOptions::factor`]: crate::ReconnectOptions::factor
//! [`ReconnectOptions::max_delay`]: crate::ReconnectOptions::max_delay
//! [`ReconnectOptions::jitter`]: crate::ReconnectOptions::jitter
//! [`ReconnectOptions::max_attempts`]: crate::ReconnectOptions::max_attempts
//! [`ReconnectOptions::min_uptime`]: crate::ReconnectOptions::min_uptime
//! [`ClosePolicy`]: crate::ClosePolicy
//! [`QueueOptions::max_messages`]: crate::QueueOptions::max_messages
//! [`QueueOptions::max_bytes`]: crate::QueueOptions::max_bytes

use crate::SocketOptions;
use js_sys::{Array, Reflect};
use std::{rc::Rc, time::Duration};
use wasm_bindgen::JsValue;

/// The numeric and boolean options, in the order `tether-socket.js` passes them.
pub const NUMERIC: [&str; 16] = [
    "connectTimeout",
    "heartbeat",
    "heartbeatInterval",
    "heartbeatTimeout",
    "reconnect",
    "reconnectInterval",
    "reconnectDecay",
    "maxReconnectInterval",
    "reconnectJitter",
    "maxReconnectAttempts",
    "minUptime",
    "maxQueuedMessages",
    "maxQueuedBytes",
    "highWaterMark",
    "rejoin",
    "immediate",
];

/// The longest duration a JavaScript timer can wait (2^31 − 1 ms); longer ones are clamped.
const MAX_MILLIS: f64 = 2_147_483_647.0;

/// Reads the options: `numbers` in the order of [`NUMERIC`], the rest from `object`.
pub(crate) fn socket_options(numbers: &Array, object: &JsValue) -> SocketOptions {
    let number = |i: u32| numbers.get(i).as_f64().filter(|n| !n.is_nan());
    let millis = |i: u32| number(i).map(|n| Duration::from_millis(n.clamp(0.0, MAX_MILLIS) as u64));
    let flag = |i: u32| number(i).map(|n| n != 0.0);
    let count = |i: u32| number(i).map(|n| n.max(0.0) as usize);
    let get = |key: &str| {
        Reflect::get(object, &JsValue::from_str(key))
            .ok()
            .filter(|v| !v.is_undefined())
    };
    let text = |key: &str| get(key).and_then(|v| v.as_string());
    let list = |key: &str| get(key).map(|v| Array::from(&v).to_vec());

    let mut options = SocketOptions::default();
    if let Some(protocols) = list("protocols") {
        options.protocols = protocols.iter().filter_map(JsValue::as_string).collect();
    }
    if let Some(timeout) = millis(0) {
        options.connect_timeout = timeout;
    }
    if flag(1) == Some(false) {
        options.heartbeat = None;
    }
    if let Some(heartbeat) = &mut options.heartbeat {
        if let Some(interval) = millis(2) {
            heartbeat.interval = interval;
        }
        if let Some(timeout) = millis(3) {
            heartbeat.timeout = timeout;
        }
        if let Some(ping) = text("pingMessage") {
            heartbeat.ping = ping;
        }
        if let Some(pong) = text("pongMessage") {
            heartbeat.is_pong = Rc::new(move |text: &str| text == pong);
        }
    }
    let reconnect = &mut options.reconnect;
    if let Some(enabled) = flag(4) {
        reconnect.enabled = enabled;
    }
    if let Some(delay) = millis(5) {
        reconnect.initial_delay = delay;
    }
    if let Some(factor) = number(6) {
        reconnect.factor = factor;
    }
    if let Some(delay) = millis(7) {
        reconnect.max_delay = delay;
    }
    if let Some(jitter) = number(8) {
        reconnect.jitter = jitter;
    }
    if let Some(attempts) = number(9) {
        // `Infinity`: never give up.
        reconnect.max_attempts = (attempts < f64::from(u32::MAX)).then(|| attempts.max(0.0) as u32);
    }
    if let Some(uptime) = millis(10) {
        reconnect.min_uptime = uptime;
    }
    for code in list("reconnectOn").into_iter().flatten() {
        if let Some(code) = code.as_f64() {
            options.close_policy = options.close_policy.reconnect_on(code as u16);
        }
    }
    for code in list("stopOn").into_iter().flatten() {
        if let Some(code) = code.as_f64() {
            options.close_policy = options.close_policy.stop_on(code as u16);
        }
    }
    if let Some(max) = count(11) {
        options.queue.max_messages = max;
    }
    if let Some(max) = count(12) {
        options.queue.max_bytes = max;
    }
    if let Some(mark) = number(13) {
        options.high_water_mark = Some(mark.max(0.0) as u32);
    }
    if let Some(rejoin) = flag(14) {
        options.rejoin = rejoin;
    }
    if let Some(immediate) = flag(15) {
        options.immediate = immediate;
    }
    options
}
