//! `Emitter`: the JavaScript API's engine host. It hands events to the wrapper's `emit`
//! function, and reads acks with the browser's `JSON.parse`.

use crate::{
    ConnectionState,
    engine::{Event, Host},
    js::status::{EventKind, state},
};
use js_sys::{Function, Reflect};
use std::cell::Cell;
use wasm_bindgen::JsValue;

/// Calls the wrapper's `emit(kind, a, b, c)` (see [`EventKind`]) for each event.
///
/// It holds the function (and so the `TetherSocket` it dispatches on) only while the socket may
/// still produce events: a reference from wasm memory is invisible to the garbage collector, so
/// holding it for good would keep every closed socket, and its page listeners, alive. Once the
/// socket is closed for good it lets go; `reconnect()` hands it back.
// A `Cell`, not a `RefCell`: `RefCell`'s panic messages would bring `core::fmt` in.
pub struct Emitter {
    emit: Cell<Option<Function>>,
}

impl std::fmt::Debug for Emitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter").finish_non_exhaustive()
    }
}

impl Emitter {
    /// Emits through `emit`, or through nothing until [`retarget`](Self::retarget).
    pub(crate) fn new(emit: Option<Function>) -> Self {
        Self {
            emit: Cell::new(emit),
        }
    }

    /// Emits through `emit` again (after a close, `reconnect()` hands it back).
    pub(crate) fn retarget(&self, emit: Function) {
        self.emit.set(Some(emit));
    }
}

impl Host for Emitter {
    /// The ack's `payload`: `request()` resolves with it, or rejects with its `error` and `code`.
    type Ack = JsValue;

    fn emit(&self, event: Event<'_>) {
        // Let go once closed for good, before calling out: a listener that calls `reconnect()`
        // hands the function back.
        let emit = self.emit.take();
        if !matches!(event, Event::State(ConnectionState::Closed)) {
            self.emit.set(emit.clone());
        }
        let Some(emit) = emit else {
            return;
        };
        let undefined = JsValue::UNDEFINED;
        let (kind, a, b, c) = match event {
            Event::State(s) => (
                EventKind::StateChange,
                state(s).into(),
                undefined.clone(),
                undefined,
            ),
            Event::Open { reconnected } => (
                EventKind::Open,
                reconnected.into(),
                undefined.clone(),
                undefined,
            ),
            Event::Message { event, .. } => (
                EventKind::Message,
                event.data(),
                event.origin().into(),
                undefined,
            ),
            Event::Error => (
                EventKind::Error,
                undefined.clone(),
                undefined.clone(),
                undefined,
            ),
            Event::Close(info) => (
                EventKind::Close,
                info.code.into(),
                info.reason.into(),
                info.was_clean.into(),
            ),
            Event::Reconnecting { attempt, delay } => (
                EventKind::Reconnecting,
                attempt.into(),
                (delay.as_secs_f64() * 1000.0).into(),
                undefined,
            ),
            Event::HeartbeatTimeout => (
                EventKind::HeartbeatTimeout,
                undefined.clone(),
                undefined.clone(),
                undefined,
            ),
            // The `statechange` to `closed` that follows says it.
            Event::GaveUp => return,
        };
        let _ = emit.call4(&JsValue::NULL, &(kind as u8).into(), &a, &b, &c);
    }

    fn read_ack(text: &str) -> Option<(u64, JsValue)> {
        let frame = js_sys::JSON::parse(text).ok()?;
        let get = |value: &JsValue, key: &str| Reflect::get(value, &JsValue::from_str(key)).ok();
        if get(&frame, "type")?.as_string()? != "ack" {
            return None;
        }
        let payload = get(&frame, "payload")?;
        let id = get(&payload, "id")?.as_f64()?;
        (id >= 0.0 && id.fract() == 0.0).then_some((id as u64, payload))
    }
}
