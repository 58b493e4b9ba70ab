//! The plain HTTP routes: health, metrics, and the built app.

mod common;

use common::{TestServer, config, metric_value};
use std::{
    path::PathBuf,
    sync::atomic::{AtomicUsize, Ordering},
};

/// A fresh folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "tether-static-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create a temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const INDEX: &str = "<!doctype html><title>Tether app</title><p>the built app</p>\n";

/// A server with a built app: `index.html` and `app.js`.
async fn serving_an_app() -> (TestServer, TempDir) {
    let dir = TempDir::new();
    std::fs::write(dir.0.join("index.html"), INDEX).expect("write index.html");
    std::fs::write(dir.0.join("app.js"), "console.log('app');\n").expect("write app.js");
    let server = TestServer::with(config().static_dir(&dir.0)).await;
    (server, dir)
}

#[tokio::test]
async fn healthz_answers_ok() {
    let server = TestServer::start().await;
    let response = server.get("/healthz").await;
    assert_eq!((response.status, response.text().as_str()), (200, "ok"));
}

#[tokio::test]
async fn metrics_lists_every_metric_the_readme_names() {
    let server = TestServer::start().await;
    let response = server.get("/metrics").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = response.text();
    for name in [
        "tether_connections",
        "tether_connections_accepted_total",
        "tether_rooms",
        "tether_messages_in_total",
        "tether_messages_out_total",
        "tether_messages_dropped_total",
        "tether_slow_consumer_closes_total",
        "tether_messages_refused_total",
    ] {
        assert_eq!(metric_value(&text, name), Some(0.0), "{name} in\n{text}");
    }
}

#[tokio::test]
async fn metrics_count_connections_and_messages() {
    let server = TestServer::start().await;
    let mut a = server.connect().await;
    let mut b = server.connect().await;
    a.join("r").await;
    b.join("r").await;
    a.say("r", "hi").await;
    a.recv_type("user:joined").await;
    b.recv_type("message").await;
    let text = server.metrics().await;
    let value = |name| metric_value(&text, name);
    assert_eq!(value("tether_connections"), Some(2.0));
    assert_eq!(value("tether_connections_accepted_total"), Some(2.0));
    assert_eq!(value("tether_rooms"), Some(1.0));
    // join, join, message.
    assert_eq!(value("tether_messages_in_total"), Some(3.0));
    // connected ×2, joined ×2, user:joined to `a`, message to `b`.
    assert_eq!(value("tether_messages_out_total"), Some(6.0));
}

#[tokio::test]
async fn without_a_built_app_the_root_shows_a_note() {
    let server = TestServer::start().await;
    let response = server.get("/").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let text = response.text();
    assert!(text.contains("The Tether server is running"), "{text}");
    assert!(text.contains("<code>/ws</code>"), "{text}");
}

#[tokio::test]
async fn without_a_built_app_other_paths_are_not_found() {
    let server = TestServer::start().await;
    assert_eq!(server.get("/rooms/lobby").await.status, 404);
}

#[tokio::test]
async fn the_built_app_is_served_on_the_root() {
    let (server, _dir) = serving_an_app().await;
    let response = server.get("/").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), INDEX);
    assert!(
        response
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{:?}",
        response.header("content-type")
    );
}

#[tokio::test]
async fn the_built_apps_files_are_served() {
    let (server, _dir) = serving_an_app().await;
    let response = server.get("/app.js").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "console.log('app');\n");
}

#[tokio::test]
async fn an_unknown_path_falls_back_to_index_html() {
    let (server, _dir) = serving_an_app().await;
    let response = server.get("/rooms/lobby").await;
    assert_eq!(response.text(), INDEX);
    // A page of the single-page app, not an error.
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn the_server_routes_win_over_the_built_app() {
    let (server, _dir) = serving_an_app().await;
    let health = server.get("/healthz").await;
    assert_eq!((health.status, health.text().as_str()), (200, "ok"));
    assert_eq!(server.get("/metrics").await.status, 200);
    let mut client = server.connect().await;
    client.expect_nothing_pending().await;
}
