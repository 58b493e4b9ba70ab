//! Turning what the user gave into a `ws:`/`wss:` URL.

use crate::ConnectError;

/// Resolves `url` against the page's address `base`: `ws:` and `wss:` URLs stay as they are,
/// `http:` and `https:` become `ws:` and `wss:`, and a relative URL such as `/ws` takes the page's
/// host, with `wss:` on an `https:` page and `ws:` otherwise.
pub fn resolve_url(url: &str, base: Option<&str>) -> Result<String, ConnectError> {
    let invalid = |reason: &str| ConnectError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = match base {
        Some(base) => web_sys::Url::new_with_base(url, base),
        None => web_sys::Url::new(url),
    }
    .map_err(|_| invalid("not a URL, and there is no page to resolve it against"))?;
    let scheme = match parsed.protocol().as_str() {
        "ws:" | "http:" => "ws:",
        "wss:" | "https:" => "wss:",
        _ => return Err(invalid("the scheme must be ws, wss, http or https")),
    };
    parsed.set_protocol(scheme);
    // A fragment is not allowed in a WebSocket URL.
    parsed.set_hash("");
    Ok(parsed.href())
}
