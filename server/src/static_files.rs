//! The built app's files on `/`: gzip when the build made it, and caching by file name.
//!
//! A release build of the app (`trunk build --release`, with `scripts/post-build.sh`) names every
//! file whose content can change with a hash of it (`tether-app-<16 hex>_bg.wasm`,
//! `style-<16 hex>.css`, `split_chat_screen-<16 hex>.wasm`) and writes `file.gz` beside each file.
//! So: a fingerprinted file is cached for a year and never asked for again; anything else
//! (`index.html`, `__wasm_split.js`, a page of the app) is revalidated on every load, so a new
//! build shows at once; and a browser that accepts gzip gets the `.gz`.

use axum::{
    Router,
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use std::path::Path;
use tower_http::services::{ServeDir, ServeFile};

/// `Cache-Control` for a fingerprinted file.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `Cache-Control` for everything else: cached, but revalidated before each use.
const REVALIDATE: &str = "no-cache";

/// Serves `dir`, with `index.html` for any path that names no file (the app routes itself).
pub fn router(dir: &Path) -> Router {
    let files = ServeDir::new(dir)
        .precompressed_gzip()
        .fallback(ServeFile::new(dir.join("index.html")).precompressed_gzip());
    Router::new()
        .fallback_service(files)
        .layer(middleware::from_fn(cache_headers))
        .layer(middleware::from_fn(mappable))
}

/// The longest file name the server looks up; longer ones are not there (and the file system
/// would refuse them with an error that `ServeDir` answers with 500).
const MAX_NAME: usize = 255;

/// Answers what cannot name a file before it reaches the file system: a request target that is
/// not a path (`GET ms`, `GET host:443`) gets 400, a name longer than a file name may be, 404.
/// These are the client's mistakes, never the server's 500.
async fn mappable(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if !path.starts_with('/') {
        return (
            StatusCode::BAD_REQUEST,
            "the request target must be a path\n",
        )
            .into_response();
    }
    if path.split('/').any(|name| name.len() > MAX_NAME) {
        return StatusCode::NOT_FOUND.into_response();
    }
    next.run(request).await
}

/// Adds `Cache-Control` (by [`fingerprinted`]) and `Vary: Accept-Encoding` to a file served.
async fn cache_headers(request: Request, next: Next) -> Response {
    let immutable = fingerprinted(request.uri().path());
    let mut response = next.run(request).await;
    let status = response.status();
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        let headers = response.headers_mut();
        let policy = if immutable { IMMUTABLE } else { REVALIDATE };
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
        // The same URL is sent gzipped or not, by the request's Accept-Encoding.
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

/// Whether the last segment of `path` is a name with a content hash: its stem (up to the first
/// `.`, without a trailing `_bg`) ends in `-` and 16 lowercase hex digits, as trunk and
/// `scripts/post-build.sh` name them.
pub fn fingerprinted(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    let stem = name.split('.').next().unwrap_or_default();
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    let Some((_, hash)) = stem.rsplit_once('-') else {
        return false;
    };
    hash.len() == 16
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::fingerprinted;

    #[test]
    fn names_with_a_content_hash_are_fingerprinted() {
        for path in [
            "/tether-app-223fb966df2d5fa0.js",
            "/tether-app-223fb966df2d5fa0_bg.wasm",
            "/style-e0c58d40c103bf91.css",
            "/split_chat_screen-b142f9cbe0d4d15d.wasm",
            "/assets/logo-0123456789abcdef.svg",
        ] {
            assert!(fingerprinted(path), "{path}");
        }
    }

    #[test]
    fn other_names_are_not() {
        for path in [
            "/",
            "/index.html",
            "/__wasm_split.js",
            "/split_chat_screen.wasm",
            "/rooms/lobby",
            "/style-E0C58D40C103BF91.css",
            "/style-e0c58d40c103bf9.css",
            "/style-e0c58d40c103bf910.css",
            "/style_e0c58d40c103bf91.css",
            "/app-e0c58d40c103bf9g.js",
        ] {
            assert!(!fingerprinted(path), "{path}");
        }
    }
}
