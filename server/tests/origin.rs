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
async fn the_servers_own_origin_must_be_configured_when_localhost_is_off() {
    let server = TestServer::with(config().allow_localhost(false)).await;
    let own = format!("http://{}", server.addr());
    assert_eq!(server.handshake_status(&[("Origin", &own)]).await, 403);
    let configured = TestServer::with(
        config()
            .allow_localhost(false)
            .allow_origin(format!("http://{}", server.addr())),
    )
    .await;
    let own = format!("http://{}", server.addr());
    assert_eq!(configured.handshake_status(&[("Origin", &own)]).await, 101);
}

#[tokio::test]
async fn a_dns_rebinding_page_is_refused_although_its_host_matches() {
    // The attacker's name resolves to this server: the page's origin and the request's Host
    // both name the attacker's domain. The Host header proves nothing.
    let server = TestServer::start().await;
    for (host, origin) in [
        ("evil.example", "http://evil.example"),
        ("evil.example:8080", "http://evil.example:8080"),
    ] {
        assert_eq!(
            server
                .handshake_status(&[("Host", host), ("Origin", origin)])
                .await,
            403,
            "{origin}"
        );
    }
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
