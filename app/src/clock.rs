//! The wall clock: `now_ms`, and `use_clock`, a signal that ticks so that countdowns and typing
//! notices expire on screen.

use gloo_timers::callback::Interval;
use leptos::prelude::*;
use std::time::Duration;

/// Milliseconds since the Unix epoch (JavaScript's `Date.now()`), the unit of the server's
/// timestamps and of `ConnectionState::Reconnecting::at`.
pub fn now_ms() -> u64 {
    // `Date.now()` is a whole, non-negative number of milliseconds.
    js_sys::Date::now() as u64
}

/// A signal holding [`now_ms`], updated every `period` for as long as the current owner lives.
pub fn use_clock(period: Duration) -> Signal<u64> {
    let (now, set_now) = signal(now_ms());
    let millis = u32::try_from(period.as_millis()).unwrap_or(u32::MAX);
    let interval = Interval::new(millis, move || set_now.set(now_ms()));
    // Owned by the current owner: the interval is cancelled when it is dropped at cleanup.
    StoredValue::new_local(interval);
    now.into()
}
