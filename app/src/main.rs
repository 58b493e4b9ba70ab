//! `tether-app`: the Leptos chat UI, built with trunk (`index.html` and `Trunk.toml` at the
//! repository root) and served by `tether-server` on `/`.
//!
//! **Status: skeleton.** It compiles and names the protocol it will speak; the UI and its
//! `use_socket` hook come with the app issue. Run the server with `scripts/run.sh` meanwhile.

use tether_protocol::ClientMessage;

fn main() {
    // Referencing the protocol keeps the dependency honest until the UI lands.
    let _ = ClientMessage::TYPES;
}
