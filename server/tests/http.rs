//! The plain HTTP routes: health, metrics, and the built app.

mod common;

use common::{HttpResponse, TestServer, config, metric_value};
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

/// A server with a release-like build: fingerprinted files, and `.gz` beside some of them.
async fn serving_a_release_build() -> (TestServer, TempDir) {
    let dir = TempDir::new();
    let write = |name: &str, content: &[u8]| {
        std::fs::write(dir.0.join(name), content).unwrap_or_else(|e| panic!("write {name}: {e}"));
    };
    write("index.html", INDEX.as_bytes());
    write("index.html.gz", b"index, gzipped");
    write("tether-app-0123456789abcdef.js", b"console.log('app');\n");
    write("tether-app-0123456789abcdef.js.gz", b"app, gzipped");
    write("__wasm_split.js", b"export {};\n");
    let server = TestServer::with(config().static_dir(&dir.0)).await;
    (server, dir)
}

#[tokio::test]
async fn fingerprinted_files_are_cached_for_good_and_the_rest_revalidated() {
    let (server, _dir) = serving_a_release_build().await;
    let cache = |response: &HttpResponse| response.header("cache-control").map(str::to_owned);
    let app = server.get("/tether-app-0123456789abcdef.js").await;
    assert_eq!(app.status, 200);
    assert_eq!(
        cache(&app).as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    for path in ["/", "/index.html", "/__wasm_split.js", "/rooms/lobby"] {
        let response = server.get(path).await;
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(cache(&response).as_deref(), Some("no-cache"), "{path}");
    }
    // Not for the server's own routes, nor for what is not there.
    assert_eq!(server.get("/healthz").await.header("cache-control"), None);
}

#[tokio::test]
async fn a_browser_that_accepts_gzip_gets_the_gz_file() {
    let (server, _dir) = serving_a_release_build().await;
    let gzip = [("Accept-Encoding", "gzip, deflate, br")];
    let app = server
        .get_with("/tether-app-0123456789abcdef.js", &gzip)
        .await;
    assert_eq!(app.status, 200);
    assert_eq!(app.header("content-encoding"), Some("gzip"));
    assert_eq!(app.body, b"app, gzipped");
    assert!(
        app.header("content-type")
            .is_some_and(|t| t.starts_with("text/javascript")),
        "typed by the original name: {:?}",
        app.header("content-type")
    );
    assert_eq!(app.header("vary"), Some("accept-encoding"));
    // A page of the app falls back to index.html, gzipped too.
    let page = server.get_with("/rooms/lobby", &gzip).await;
    assert_eq!(
        (page.status, page.body.as_slice()),
        (200, &b"index, gzipped"[..])
    );
    // Without Accept-Encoding, or for a file with no .gz: the file itself.
    let plain = server.get("/tether-app-0123456789abcdef.js").await;
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.text(), "console.log('app');\n");
    let link = server.get_with("/__wasm_split.js", &gzip).await;
    assert_eq!(link.header("content-encoding"), None);
    assert_eq!(link.text(), "export {};\n");
}
