//! Which web pages may open a WebSocket: the defence against Cross-Site WebSocket Hijacking.

use axum::http::{HeaderMap, Uri, header};

/// The origin allowlist, checked before the upgrade.
///
/// Browsers attach cookies to WebSocket handshakes from any page and send that page's `Origin`, so
/// without this check any site a user visits could open a socket in the user's name. Allowed are:
/// the server's own origin (the `Origin`'s host and port equal the `Host` header), localhost pages
/// when enabled (for `trunk serve`), and the configured origins. A request with no `Origin` is not
/// from a browser page and is allowed.
#[derive(Debug, Clone)]
pub struct OriginPolicy {
    any: bool,
    localhost: bool,
    allowed: Vec<String>,
}

impl OriginPolicy {
    /// A policy allowing `allowed` (`scheme://host[:port]` each, or `*` for any) and, when
    /// `localhost` is true, localhost pages.
    pub fn new(allowed: &[String], localhost: bool) -> Self {
        Self {
            any: allowed.iter().any(|o| o.trim() == "*"),
            localhost,
            allowed: allowed
                .iter()
                .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                .filter(|o| !o.is_empty() && o != "*")
                .collect(),
        }
    }

    /// Whether a handshake with these headers may proceed.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        if self.any {
            return true;
        }
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        if self.allowed.contains(&origin) {
            return true;
        }
        // `null` (sandboxed frames, file: pages) and anything else without a host fails here.
        let Ok(uri) = origin.parse::<Uri>() else {
            return false;
        };
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
            return false;
        };
        if self.localhost && is_localhost(host) {
            return true;
        }
        let port = uri.port_u16().or(match scheme {
            "http" | "ws" => Some(80),
            "https" | "wss" => Some(443),
            _ => None,
        });
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.parse::<axum::http::uri::Authority>().ok())
            .is_some_and(|own| {
                own.host().eq_ignore_ascii_case(host) && own.port_u16().or(port) == port
            })
    }
}

fn is_localhost(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]") || host.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        headers
    }

    #[test]
    fn same_origin_is_allowed() {
        let policy = OriginPolicy::new(&[], false);
        assert!(policy.allows(&headers(
            Some("http://chat.example:8080"),
            "chat.example:8080"
        )));
        assert!(policy.allows(&headers(Some("https://chat.example"), "chat.example")));
        assert!(policy.allows(&headers(Some("https://Chat.Example"), "chat.example:443")));
        assert!(!policy.allows(&headers(
            Some("http://chat.example:9090"),
            "chat.example:8080"
        )));
        assert!(!policy.allows(&headers(Some("https://evil.example"), "chat.example")));
    }

    #[test]
    fn localhost_is_allowed_only_when_enabled() {
        let dev = OriginPolicy::new(&[], true);
        let strict = OriginPolicy::new(&[], false);
        for origin in [
            "http://localhost:8081",
            "http://127.0.0.1:3000",
            "http://[::1]:8080",
        ] {
            assert!(
                dev.allows(&headers(Some(origin), "127.0.0.1:8080")),
                "{origin}"
            );
            assert!(
                !strict.allows(&headers(Some(origin), "chat.example")),
                "{origin}"
            );
        }
    }

    #[test]
    fn configured_origins_and_wildcard() {
        let policy = OriginPolicy::new(&["https://app.example/".into()], false);
        assert!(policy.allows(&headers(Some("https://app.example"), "api.example")));
        assert!(!policy.allows(&headers(Some("https://other.example"), "api.example")));
        let any = OriginPolicy::new(&["*".into()], false);
        assert!(any.allows(&headers(Some("https://other.example"), "api.example")));
    }

    #[test]
    fn no_origin_is_not_a_browser_and_null_is_refused() {
        let policy = OriginPolicy::new(&[], false);
        assert!(policy.allows(&headers(None, "chat.example")));
        assert!(!policy.allows(&headers(Some("null"), "chat.example")));
        assert!(!policy.allows(&headers(Some("http://evil.example"), "localhost:8080")));
    }
}
