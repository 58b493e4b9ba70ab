//! A client that floods WebSocket pings and never reads costs the server a bounded amount of
//! memory: the pongs it is owed are coalesced once `--max-control-bytes` are waiting.
//!
//! Alone in its test binary, so the process's resident memory is the server's and this client's
//! only (the client holds nothing: it writes and never reads).

mod common;

use common::{RawWs, TestServer, config};
use std::time::Duration;
use tokio::time::Instant;

/// Resident memory of this process, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("resident pages");
    pages * 4096
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_never_reading_ping_flood_costs_the_server_a_bounded_amount_of_memory() {
    // No rate limit: this test is about the pongs, not about closing the flooder.
    let server = TestServer::with(config().unlimited_rates()).await;
    let mut raw = RawWs::connect_small_buffer(server.addr()).await;
    let mut pings = Vec::new();
    for _ in 0..64 {
        pings.extend_from_slice(&[0x89, 0x80 | 125, 1, 2, 3, 4]);
        pings.extend(std::iter::repeat_n(b'p' ^ 1, 125));
    }
    let before = rss();
    let started = Instant::now();
    let mut sent = 0u64;
    // 400,000 pings of 125 bytes: 50 MB of pongs owed, had they been buffered.
    while sent < 400_000 && started.elapsed() < Duration::from_secs(20) {
        raw.send_bytes(&pings)
            .await
            .expect("the server keeps reading");
        sent += 64;
    }
    server
        .wait_for_metric("tether_control_frames_in_total", |n| n >= sent as f64)
        .await;
    let grown = rss().saturating_sub(before);
    assert!(
        sent >= 100_000,
        "only {sent} pings in {:?}",
        started.elapsed()
    );
    assert!(
        grown < 16 << 20,
        "the server grew by {} MiB for {sent} pings",
        grown >> 20
    );
}
