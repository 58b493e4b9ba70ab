//! What Tether's fuzz targets share: a real server to send request heads to, the encoding of a
//! fuzzer's input as client frames, and the checks on what the server answers.
//!
//! The targets themselves are in `fuzz_targets/` and run with cargo-fuzz on stable Rust
//! (`cargo fuzz run -s none TARGET`; `scripts/fuzz.sh` runs them all for a bounded time):
//!
//! - `decode`: client text to message ([`tether_server::decode::decode`]).
//! - `handshake`: request heads through the real server's HTTP/1 stack, accept loop, router,
//!   origin check and WebSocket handshake, and the same head through [`tether_server::Handshake`]
//!   and [`tether_server::OriginPolicy`] in process.
//! - `frames`: bytes after the upgrade through [`tether_server::connection::run`] over an
//!   in-memory pipe, and [`tether_server::frame_guard::FrameScanner`] against a reference.
//!
//! # Layout
//! - [`test_server`]: one server per fuzzing process, and one exchange per input over TCP.
//! - [`http_check`]: what an HTTP answer must look like, and the in-process handshake.
//! - [`wire_input`]: a fuzzer's input as the bytes a client sends after the upgrade.
//! - [`server_frames`]: the frames the server wrote, parsed and checked.
//! - [`scanner_reference`]: the frame-length rule written the plain way, to hold the scanner to.
#![warn(missing_docs)]

pub mod http_check;
pub mod scanner_reference;
pub mod server_frames;
pub mod test_server;
pub mod wire_input;
