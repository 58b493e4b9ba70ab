//! The JavaScript options object, read into the machine's options.
//!
//! The wrapper hands the numbers and booleans over as numbers in the order of [`NUMERIC`]
//! (`NaN` for an option not given; `true` and `false` as 1 and 0). The close codes of
//! `reconnectOn` and `stopOn` follow one by one (`SocketCore::policy`). The rest stays in
//! JavaScript, which uses it: `protocols`, `pingMessage` and `pongMessage` (the wrapper sends and
//! matches the heartbeat's texts; the machine says when), `resumeToken` and `token` (the wrapper
//! builds the URLs; the machine says when to connect), and `immediate`.
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
//! | `recent` | [`SocketOptions::recent`] | 0 |
//! | `resumeToken` | `SocketOptions::resume_token` | none |
//! | `token` (a function returning a string or a Promise of one) | `SocketOptions::token` | none |
//! | `immediate` | [`SocketOptions::immediate`] | true |
//!
//! [`SocketOptions::protocols`]: crate::SocketOptions::protocols
//! [`SocketOptions::connect_timeout`]: crate::SocketOptions::connect_timeout
//! [`SocketOptions::heartbeat`]: crate::SocketOptions::heartbeat
//! [`SocketOptions::high_water_mark`]: crate::SocketOptions::high_water_mark
//! [`SocketOptions::rejoin`]: crate::SocketOptions::rejoin
//! [`SocketOptions::recent`]: crate::SocketOptions::recent
//! [`SocketOptions::immediate`]: crate::SocketOptions::immediate
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

use crate::machine::MachineOptions;
use core::time::Duration;

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
    "recent",
];

/// The longest duration a JavaScript timer can wait (2^31 − 1 ms); longer ones are clamped.
const MAX_MILLIS: f64 = 2_147_483_647.0;

/// Reads the options: `numbers` in the order of [`NUMERIC`]; a `NaN` keeps the Rust default.
pub(crate) fn machine_options(numbers: &[f64; 16]) -> MachineOptions {
    let number = |i: usize| numbers.get(i).copied().filter(|n| !n.is_nan());
    let millis =
        |i: usize| number(i).map(|n| Duration::from_millis(n.clamp(0.0, MAX_MILLIS) as u64));
    let flag = |i: usize| number(i).map(|n| n != 0.0);
    let count = |i: usize| number(i).map(|n| n.max(0.0) as usize);

    let mut options = MachineOptions::default();
    if let Some(timeout) = millis(0) {
        options.connect_timeout = timeout;
    }
    if flag(1) == Some(false) {
        options.heartbeat = None;
    }
    if let Some((interval, timeout)) = &mut options.heartbeat {
        if let Some(ms) = millis(2) {
            *interval = ms;
        }
        if let Some(ms) = millis(3) {
            *timeout = ms;
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
    if let Some(recent) = number(15) {
        options.recent = recent.clamp(0.0, f64::from(u32::MAX)) as u32;
    }
    options
}
