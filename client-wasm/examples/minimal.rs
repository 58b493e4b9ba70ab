//! The smallest real program on `tether-client`: connect to the page's `/ws`, join a room, log
//! what arrives, send one acknowledged message. `scripts/size.sh` builds it for the browser in the
//! size-optimised `wasm-release` profile to measure what the client costs on its own.
//!
//! ```text
//! cargo build --target wasm32-unknown-unknown --profile wasm-release -p tether-client --example minimal
//! ```
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code, unused_imports))]

use std::{cell::RefCell, time::Duration};
use tether_client::{Socket, SocketEvent, Subscription, protocol::ServerMessage};

thread_local! {
    /// The page keeps its socket and subscription for as long as it lives.
    static APP: RefCell<Option<(Socket, Subscription)>> = const { RefCell::new(None) };
}

fn log(text: &str) {
    web_sys::console::log_1(&text.into());
}

#[cfg(target_arch = "wasm32")]
fn main() {
    let socket = match Socket::new("/ws") {
        Ok(socket) => socket,
        Err(error) => return log(&format!("cannot connect: {error}")),
    };
    let subscription = socket.on(|event| match event {
        SocketEvent::Message(message) => match message.json::<ServerMessage>() {
            Ok(ServerMessage::Message(chat)) => log(&format!("{}: {}", chat.from, chat.text)),
            Ok(_) => {}
            Err(error) => log(&format!("not a server message: {error}")),
        },
        SocketEvent::Close(close) => log(&format!("closed: {}", close.code)),
        _ => {}
    });
    if let Err(error) = socket.join("lobby") {
        log(&format!("join: {error}"));
    }
    let request = socket.request(
        "message",
        &serde_json::json!({"roomId": "lobby", "text": "hello"}),
        Duration::from_secs(5),
    );
    wasm_bindgen_futures::spawn_local(async move {
        match request.await {
            Ok(()) => log("delivered"),
            Err(error) => log(&format!("not delivered: {error}")),
        }
    });
    APP.with(|app| *app.borrow_mut() = Some((socket, subscription)));
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("this example runs in a browser: build it for wasm32-unknown-unknown");
}
