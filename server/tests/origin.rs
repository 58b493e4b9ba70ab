//! Which pages may open a WebSocket (Cross-Site WebSocket Hijacking): decided before the upgrade.

mod common;

use common::{TestServer, config};

#[tokio::test]
async fn a_foreign_origin_gets_403_before_the_upgrade() {
    let server = TestServer::start().await;
    assert_eq!(
        server
            .handshake_status(&[("Origin", "https://evil.example")])
            .await,
        403
    );
    // Refused before the upgrade: no connection was ever accepted.
    assert_eq!(
        server.metric("tether_connections_accepted_total").await,
        0.0
    );
}

#[tokio::test]
async fn no_origin_is_not_a_browser_and_is_allowed() {
    let server = TestServer::start().await;
    assert_eq!(server.handshake_status(&[]).await, 101);
}

#[tokio::test]
async fn localhost_pages_on_any_port_are_allowed_by_default() {
    let server = TestServer::start().await;
    for origin in [
        "http://localhost:5173",
        "http://127.0.0.1:8081",
        "http://[::1]:3000",
    ] {
        assert_eq!(
            server.handshake_status(&[("Origin", origin)]).await,
            101,
            "{origin}"
        );
    }
}

#[tokio::test]
async fn localhost_pages_are_refused_when_localhost_is_off() {
    let server = TestServer::with(config().allow_localhost(false)).await;
    for origin in ["http://localhost:5173", "http://127.0.0.1:8081"] {
        assert_eq!(
            server.handshake_status(&[("Origin", origin)]).await,
            403,
            "{origin}"
        );
    }
}

#[tokio::test]
async fn the_servers_own_origin_is_allowed_when_localhost_is_off() {
    let server = TestServer::with(config().allow_localhost(false)).await;
    let own = format!("http://{}", server.addr());
    assert_eq!(server.handshake_status(&[("Origin", &own)]).await, 101);
}

#[tokio::test]
async fn same_origin_follows_the_host_header() {
    let server = TestServer::with(config().allow_localhost(false)).await;
    assert_eq!(
        server
            .handshake_status(&[
                ("Host", "chat.example:8080"),
                ("Origin", "http://chat.example:8080")
            ])
            .await,
        101
    );
    assert_eq!(
        server
            .handshake_status(&[
                ("Host", "chat.example:8080"),
                ("Origin", "http://chat.example:9090")
            ])
            .await,
        403
    );
}

#[tokio::test]
async fn an_allowlisted_origin_is_allowed_and_others_are_not() {
    let server = TestServer::with(
        config()
            .allow_localhost(false)
            .allow_origin("https://chat.example.com"),
    )
    .await;
    assert_eq!(
        server
            .handshake_status(&[("Origin", "https://chat.example.com")])
            .await,
        101
    );
    assert_eq!(
        server
            .handshake_status(&[("Origin", "https://other.example.com")])
            .await,
        403
    );
}

#[tokio::test]
async fn the_wildcard_allows_any_origin() {
    let server = TestServer::with(config().allow_localhost(false).allow_origin("*")).await;
    assert_eq!(
        server
            .handshake_status(&[("Origin", "https://evil.example")])
            .await,
        101
    );
}

#[tokio::test]
async fn the_null_origin_is_refused() {
    let server = TestServer::start().await;
    assert_eq!(server.handshake_status(&[("Origin", "null")]).await, 403);
}
