//! Client text to message: `tether_server::decode::decode` on any UTF-8.
//!
//! Never panics; a refusal stays short whatever the input's size (it goes back to the client,
//! and must not echo a large input); a decoded frame serializes, and decodes back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether_server::decode::decode;

/// The longest refusal message: a fixed sentence and a short excerpt at most.
const MAX_REFUSAL_BYTES: usize = 300;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match decode(text) {
        Ok(frame) => {
            let json = serde_json::to_string(&frame).expect("a decoded frame serializes");
            assert_eq!(
                decode(&json).as_ref(),
                Ok(&frame),
                "{json} does not decode to the frame it came from"
            );
        }
        Err(err) => {
            let message = &err.refusal.message;
            assert!(!message.is_empty(), "an empty refusal");
            assert!(
                message.len() < MAX_REFUSAL_BYTES,
                "a refusal of {} bytes for {} bytes of input: {message}",
                message.len(),
                text.len()
            );
        }
    }
});
