//! What the fuzz targets (`fuzz/`, `scripts/fuzz.sh`) found, each kept as the input that showed
//! it, so that it stays fixed.

mod common;

use common::{RawWs, TestServer, WAIT, config, raw_exchange};
use std::{
    panic::{self, AssertUnwindSafe},
    sync::{Mutex, Once},
    thread::{self, ThreadId},
};
use tether_server::{
    decode::decode,
    frame_guard::{BadLength, FrameScanner},
};

/// The threads on which something panicked, for a test whose server runs on its own thread
/// (tokio's test runtime): a panic in a server task only ends that task, and the client cannot
/// tell it from a close.
static PANICKED: Mutex<Vec<ThreadId>> = Mutex::new(Vec::new());

fn record_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            PANICKED
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(thread::current().id());
            default(info);
        }));
    });
}

fn panicked_here() -> bool {
    PANICKED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&thread::current().id())
}

/// fuzz target `decode`: serde's messages quote a string value whole ("invalid type: string
/// \"...\", expected ..."), and the refusal passed them on, so a client's 64 KiB string came back
/// in its `error`. A refusal carries a short excerpt at most.
#[test]
fn a_refusal_does_not_quote_a_long_string_whole() {
    let long = "x".repeat(10_000);
    let too_long: Vec<String> = [
        // A JSON string, then more: the first parse quotes the string, the second fails.
        format!("\"{long}\" and more"),
        // A string where the payload object should be.
        format!(r#"{{"type":"join","payload":"{long}"}}"#),
        // A string where a number should be.
        format!(r#"{{"type":"join","payload":{{"roomId":"r","recent":"{long}"}}}}"#),
    ]
    .iter()
    .map(|text| decode(text).expect_err("refused").refusal.message)
    .filter(|message| message.len() >= 300)
    .map(|message| format!("{} bytes: {}...", message.len(), &message[..100]))
    .collect();
    assert!(too_long.is_empty(), "{too_long:#?}");
}

/// fuzz target `frames`: after refusing a header, the scanner kept its header bytes and indexed
/// past its 14-byte buffer on the next bytes it was given (the connection reads through it
/// again while it closes).
#[test]
fn the_frame_scanner_can_be_fed_after_refusing_a_length() {
    let mut scanner = FrameScanner::new();
    // 5 in the 16-bit encoding, masked: 8 header bytes, refused.
    assert_eq!(
        scanner.scan(&[0x81, 0x80 | 126, 0x00, 0x05, 1, 2, 3, 4]),
        Err(BadLength)
    );
    // The client's close frame (1002), which it sends in answer to the server's.
    let fed = panic::catch_unwind(AssertUnwindSafe(|| {
        scanner.scan(&[0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xEA ^ 2])
    }));
    assert!(fed.is_ok(), "the scanner panicked on bytes after a refusal");
}

/// The same, end to end: a client whose frame length is refused (1002) and that answers the
/// server's close with its own, as every client does, panicked the server's connection task.
#[tokio::test]
async fn answering_a_1002_for_a_bad_length_does_not_panic_the_server() {
    record_panics();
    let server = TestServer::start().await;
    let mut ws = RawWs::connect(server.addr()).await;
    ws.send_bytes(&[0x81, 0x80 | 126, 0x00, 0x05, 1, 2, 3, 4])
        .await
        .expect("send the header");
    ws.expect_close(1002).await;
    ws.send_frame(0x88, &1002u16.to_be_bytes(), Some([1, 2, 3, 4]))
        .await;
    // Until the server has let the connection go (the scrape's own connection is the one left):
    // its close sequence has read the client's close by then.
    server
        .wait_for_metric("tether_tcp_connections", |n| n <= 1.0)
        .await;
    assert!(
        !panicked_here(),
        "the server's connection task panicked (its message is above)"
    );
}

/// fuzz target `handshake`: requests for the static files that the file system cannot map
/// answered 500, for what is the client's error: a target that is not a path (`GET ms`,
/// authority form), whose redirect to `ms/` cannot be built, and a path segment longer than a
/// file name may be (ENAMETOOLONG).
#[tokio::test]
async fn requests_the_static_files_cannot_map_are_not_server_errors() {
    let dir = std::env::temp_dir().join(format!("tether-fuzz-regression-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a static folder");
    std::fs::write(dir.join("index.html"), "<!doctype html>").expect("index.html");
    let server = TestServer::with(config().static_dir(&dir)).await;
    let long = format!("/{}", "x".repeat(300));
    let mut server_errors = Vec::new();
    for target in ["ms", "chat.example:443", &long] {
        let request = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        let status = raw_exchange(server.addr(), request.as_bytes(), WAIT)
            .await
            .map(|response| response.status);
        if status.is_some_and(|status| status >= 500) {
            server_errors.push(format!(
                "GET {}: {status:?}",
                &target[..target.len().min(20)]
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(server_errors.is_empty(), "{server_errors:?}");
}
