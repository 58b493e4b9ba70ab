//! Which web pages may open a WebSocket: the defence against Cross-Site WebSocket Hijacking.

use axum::http::{HeaderMap, Uri, header};

/// The origin allowlist, checked before the upgrade.
///
/// Browsers attach cookies to WebSocket handshakes from any page and send that page's `Origin`, so
/// without this check any site a user visits could open a socket in the user's name. Allowed are
/// the configured public origins of the chat and, when enabled, pages on localhost (the chat
/// served by this server on 127.0.0.1, and `trunk serve`). The request's `Host` header is never
/// compared with the `Origin`: a DNS-rebinding page makes both name the attacker's domain. A
/// request with no `Origin` is not from a browser page and is allowed; one with several is
/// refused, since no browser sends that.
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
                .map(|o| with_default_port_removed(&o))
                .collect(),
        }
    }

    /// Whether a handshake with these headers may proceed.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let mut origins = headers.get_all(header::ORIGIN).iter();
        let origin = match (origins.next(), origins.next()) {
            (None, _) => return true,
            (Some(origin), None) => origin,
            (Some(_), Some(_)) => return false,
        };
        if self.any {
            return true;
        }
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = with_default_port_removed(&origin.trim_end_matches('/').to_ascii_lowercase());
        if self.allowed.contains(&origin) {
            return true;
        }
        // `null` (sandboxed frames, file: pages) and anything else without a host fails here.
        let Ok(uri) = origin.parse::<Uri>() else {
            return false;
        };
        let (Some("http" | "https"), Some(host)) = (uri.scheme_str(), uri.host()) else {
            return false;
        };
        self.localhost && is_localhost(host)
    }
}

/// `https://a.example:443` is `https://a.example`: browsers omit the default port, a
/// configuration may not.
fn with_default_port_removed(origin: &str) -> String {
    origin
        .strip_suffix(":443")
        .filter(|o| o.starts_with("https://"))
        .or_else(|| {
            origin
                .strip_suffix(":80")
                .filter(|o| o.starts_with("http://"))
        })
        .unwrap_or(origin)
        .to_owned()
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
    fn the_host_header_is_never_trusted() {
        // DNS rebinding: the attacker's page and its request both name the attacker's domain.
        let policy = OriginPolicy::new(&[], true);
        assert!(!policy.allows(&headers(Some("http://evil.example"), "evil.example")));
        assert!(!policy.allows(&headers(
            Some("http://chat.example:8080"),
            "chat.example:8080"
        )));
    }

    #[test]
    fn configured_public_origins_match_with_or_without_default_ports() {
        let policy = OriginPolicy::new(
            &[
                "https://chat.example:443".into(),
                "http://lan.example:8080".into(),
            ],
            false,
        );
        assert!(policy.allows(&headers(Some("https://chat.example"), "anything")));
        assert!(policy.allows(&headers(Some("https://Chat.Example/"), "anything")));
        assert!(policy.allows(&headers(Some("http://lan.example:8080"), "anything")));
        assert!(!policy.allows(&headers(Some("http://lan.example"), "anything")));
        assert!(!policy.allows(&headers(Some("http://chat.example"), "anything")));
    }

    #[test]
    fn two_origin_headers_are_refused() {
        let policy = OriginPolicy::new(&["https://chat.example".into()], true);
        let mut two = headers(Some("https://chat.example"), "chat.example");
        two.append(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!policy.allows(&two));
        let mut reversed = headers(Some("http://evil.example"), "chat.example");
        reversed.append(
            header::ORIGIN,
            HeaderValue::from_static("https://chat.example"),
        );
        assert!(!policy.allows(&reversed));
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
