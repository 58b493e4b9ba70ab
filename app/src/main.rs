//! The chat app's entry point: mounts [`tether_app::App`] on the page's `<body>`.
//!
//! Run it with `trunk serve` (development, on http://127.0.0.1:8081 with `/ws` proxied to a
//! server on 8080) or `scripts/run.sh` (built with `trunk build --release` and served by
//! `tether-server` on http://127.0.0.1:8080).

fn main() {
    leptos::mount::mount_to_body(tether_app::App);
}
