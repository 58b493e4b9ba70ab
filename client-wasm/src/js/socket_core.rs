//! `SocketCore`: the class the package's `TetherSocket` wraps, one per socket.

use crate::{
    Outgoing,
    engine::{self, BadClose, Engine, Settled, UrlSource, check_close},
    js::{
        Emitter,
        options::socket_options,
        status::{Settle, send_status, state},
    },
    url::resolve_url,
};
use js_sys::Function;
use std::{rc::Rc, time::Duration};
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, WebSocket};

/// One socket, driven by the package's `TetherSocket` (see the [module docs](crate::js)). Every
/// method takes `&self`, so a listener may call back in while an event is being emitted.
///
/// Freed by wasm-bindgen's `FinalizationRegistry` once its `TetherSocket` is garbage: the engine
/// is dropped then, which closes the connection and detaches every listener and timer.
#[wasm_bindgen]
pub struct SocketCore {
    engine: Rc<Engine<Emitter>>,
}

impl std::fmt::Debug for SocketCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketCore").finish_non_exhaustive()
    }
}

fn millis(ms: f64) -> Duration {
    // The longest a JavaScript timer waits: 2^31 − 1 ms.
    Duration::from_millis(ms.clamp(0.0, 2_147_483_647.0) as u64)
}

fn js(data: JsValue, len: f64) -> Outgoing {
    Outgoing::Js {
        data,
        len: len as usize,
    }
}

#[wasm_bindgen]
impl SocketCore {
    /// `url` resolved against the page as a WebSocket URL (`/ws` → `ws://host/ws`, `https:` →
    /// `wss:`), or `undefined` when it cannot be one (the wrapper throws a `SyntaxError`, as
    /// `new WebSocket` does).
    pub fn resolve(url: &str) -> Option<String> {
        resolve_url(url, engine::page_url().as_deref()).ok()
    }

    /// Starts a socket whose events go to `emit(kind, a, b, c)`. Its URL is `url` (already
    /// [resolved](Self::resolve)), or, when `url` is `undefined`, asked of `provider` before
    /// every attempt: it is called with the attempt's number, and answers through
    /// [`provide`](Self::provide). The options are `numbers` (see
    /// [`NUMERIC`](crate::js::options::NUMERIC)) and the strings and arrays of `options`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        url: Option<String>,
        provider: Option<Function>,
        emit: Function,
        numbers: js_sys::Array,
        options: JsValue,
    ) -> SocketCore {
        let source = match (url, provider) {
            (None, Some(provider)) => {
                UrlSource::Provider(Rc::new(move |_: &Rc<Engine<Emitter>>, attempt: u64| {
                    let _ = provider.call1(&JsValue::NULL, &(attempt as f64).into());
                }))
            }
            (url, _) => UrlSource::Fixed(url.unwrap_or_default()),
        };
        let options = socket_options(&numbers, &options);
        // A socket that does not connect yet emits nothing: it takes `emit` with `reconnect()`,
        // and until then stays collectable (see `Emitter`).
        let emitter = Emitter::new(options.immediate.then_some(emit));
        // The browser `WebSocket`'s default `binaryType`.
        let engine = Engine::start(source, options, BinaryType::Blob, emitter);
        Self { engine }
    }

    /// Answers the provider for attempt `attempt`: a URL, or, with `url` undefined, a failure
    /// (`error` becomes the close reason). Answers for abandoned attempts are ignored.
    pub fn provide(&self, attempt: f64, url: Option<String>, error: Option<String>) {
        let url = url.ok_or_else(|| error.unwrap_or_default());
        self.engine.open(attempt as u64, url);
    }

    /// The state's number (see [`state`]).
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> u8 {
        state(self.engine.status())
    }

    /// The current connection's browser `WebSocket`, for its `url`, `protocol`, `extensions`
    /// and `bufferedAmount`.
    #[wasm_bindgen(getter)]
    pub fn ws(&self) -> Option<WebSocket> {
        self.engine.web_socket()
    }

    /// Bytes waiting in the send queue.
    #[wasm_bindgen(getter)]
    pub fn queued(&self) -> f64 {
        self.engine.queued().1 as f64
    }

    /// Sets `binaryType`: `arraybuffer` when true, `blob` when not.
    #[wasm_bindgen(js_name = arrayBuffers)]
    pub fn array_buffers(&self, array_buffers: bool) {
        self.engine.set_binary_type(if array_buffers {
            BinaryType::Arraybuffer
        } else {
            BinaryType::Blob
        });
    }

    /// Sends `data` (`len` bytes) now if open, else queues it; a [`send_status`].
    pub fn send(&self, data: JsValue, len: f64) -> u8 {
        send_status(self.engine.send(js(data, len)))
    }

    /// Sends the encoded request `data` (`len` bytes) with id `id`, and calls `settle(kind,
    /// ack)` (see [`Settle`]) once its ack arrives, `timeout` ms pass, or the connection it went
    /// out on closes. A [`send_status`]; unless 0, `settle` is never called.
    pub fn request(&self, id: f64, data: JsValue, len: f64, timeout: f64, settle: Function) -> u8 {
        let reply = Box::new(move |settled: Settled<JsValue>| {
            let (kind, ack) = match settled {
                Settled::Ack(ack) => (Settle::Ack, ack),
                Settled::Timeout => (Settle::Timeout, JsValue::UNDEFINED),
                Settled::Closed => (Settle::Closed, JsValue::UNDEFINED),
            };
            let _ = settle.call2(&JsValue::NULL, &(kind as u8).into(), &ack);
        });
        let sent = self
            .engine
            .request(id as u64, js(data, len), millis(timeout), reply);
        send_status(sent)
    }

    /// With `join`, joins `room` by sending its encoded `join` (`len` bytes), and sends it again
    /// after every reconnect unless `rejoin` is off; without, leaves it by sending its encoded
    /// `leave`, and stops rejoining it. A [`send_status`]. One export for both: each costs glue.
    pub fn room(&self, join: bool, room: &str, frame: JsValue, len: f64) -> u8 {
        let frame = js(frame, len);
        send_status(if join {
            self.engine.join(room, frame)
        } else {
            self.engine.leave(room, frame)
        })
    }

    /// Closes for good, no reconnect following, as `WebSocket.close(code, reason)` does: 0, or
    /// 1 for a code that is not 1000 or 3000–4999 (the wrapper throws an `InvalidAccessError`),
    /// 2 for a reason over 123 bytes (`SyntaxError`).
    pub fn close(&self, code: f64, reason: &str) -> u8 {
        // `[Clamp] unsigned short`, as the browser reads it.
        let code = code.clamp(0.0, 65535.0).round() as u16;
        match check_close(code, reason) {
            Ok(()) => {
                self.engine.close(code, reason);
                0
            }
            Err(BadClose::Code) => 1,
            Err(BadClose::Reason) => 2,
        }
    }

    /// Connects again now, starting the attempt counter over. `emit` is handed back, in case
    /// the socket had closed for good and let go of it.
    pub fn reconnect(&self, emit: Function) {
        self.engine.host().retarget(emit);
        self.engine.reconnect();
    }
}
