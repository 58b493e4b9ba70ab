//! The `?fault=` switches of `--test-mode`, and their absence without it.

mod common;

use common::{Client, TestServer, config};
use std::time::Duration;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

/// How long a muted connection is watched for anything at all.
const QUIET: Duration = Duration::from_millis(300);

async fn test_mode_server() -> TestServer {
    TestServer::with(config().test_mode(true)).await
}

#[tokio::test]
async fn without_test_mode_the_fault_parameter_is_ignored() {
    let server = TestServer::start().await;
    let mut client = Client::accept(server.open("fault=close&code=4000").await).await;
    assert_eq!(client.join("r").await["payload"]["members"], 1);
    client.expect_nothing_pending().await;
}

#[tokio::test]
async fn without_test_mode_a_malformed_fault_query_does_not_fail_the_handshake() {
    let server = TestServer::start().await;
    let mut client = Client::accept(server.open("fault=close&code=loud").await).await;
    client.expect_nothing_pending().await;
}

#[tokio::test]
async fn fault_close_sends_connected_then_closes_with_the_code() {
    let server = test_mode_server().await;
    // `accept` reads `connected`: the one batch sent before the close.
    let mut client = Client::accept(server.open("fault=close&code=4000").await).await;
    client.expect_close(4000).await;
}

#[tokio::test]
async fn fault_close_without_a_code_is_no_fault() {
    let server = test_mode_server().await;
    let mut client = Client::accept(server.open("fault=close").await).await;
    client.expect_nothing_pending().await;
}

#[tokio::test]
async fn an_unknown_fault_is_no_fault() {
    let server = test_mode_server().await;
    let mut client = Client::accept(server.open("fault=explode").await).await;
    client.expect_nothing_pending().await;
}

#[tokio::test]
async fn fault_mute_sends_connected_then_nothing() {
    let server = test_mode_server().await;
    let mut client = Client::accept(server.open("fault=mute").await).await;
    client.send_text(r#"{"type":"ping"}"#).await;
    client.send_text("ping").await;
    assert!(
        timeout(QUIET, client.next_message()).await.is_err(),
        "a muted server answered"
    );
}

#[tokio::test]
async fn fault_mute_still_handles_what_the_client_sends() {
    let server = test_mode_server().await;
    let mut listener = server.connect().await;
    listener.join("r").await;
    let mut muted = Client::accept(server.open("fault=mute").await).await;
    muted
        .send_text(r#"{"type":"join","payload":{"roomId":"r"}}"#)
        .await;
    // Only what the muted client would receive is withheld; the room hears it join.
    assert_eq!(
        listener.recv_type("user:joined").await["payload"]["userId"],
        muted.id.as_str()
    );
}

#[tokio::test]
async fn fault_echo_sends_every_frame_back_unchanged() {
    let server = test_mode_server().await;
    let mut client = Client::accept(server.open("fault=echo").await).await;
    client.send_text(r#"{"type":"ping"}"#).await;
    assert_eq!(client.recv_text().await, r#"{"type":"ping"}"#);
    client.send_raw(Message::binary(vec![1u8, 2, 3])).await;
    match client.next_message().await {
        Some(Ok(Message::Binary(bytes))) => assert_eq!(&bytes[..], &[1, 2, 3]),
        other => panic!("expected the binary frame back, got {other:?}"),
    }
}
