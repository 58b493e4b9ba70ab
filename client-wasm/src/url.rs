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

/// `url` (resolved by [`resolve_url`]: no fragment) with the query parameter `key` (its name and
/// `=`) and `value` (encoded): `resume=<token>`, which gives a client its id back, or
/// `token=<token>`. One the URL has already is replaced.
pub(crate) fn with_param(url: &str, key: &str, value: &str) -> String {
    // Byte scans and `get` rather than `split` and indexing: the char searchers and the
    // slicing panic's formatting cost the app's first page bytes. (The loop is
    // `without_param`'s, written again: a call between the two cost that page more.)
    let at = |text: &str, byte: u8| text.bytes().position(|b| b == byte);
    let start = at(url, b'?').unwrap_or(url.len());
    let mut out = String::from(url.get(..start).unwrap_or(url));
    let mut separator = '?';
    let mut rest = url.get(start + 1..).unwrap_or("");
    while !rest.is_empty() {
        let end = at(rest, b'&').unwrap_or(rest.len());
        let pair = rest.get(..end).unwrap_or(rest);
        if !pair.is_empty() && !pair.starts_with(key) {
            out.push(separator);
            out.push_str(pair);
            separator = '&';
        }
        rest = rest.get(end + 1..).unwrap_or("");
    }
    out.push(separator);
    out.push_str(key);
    out.push_str(&String::from(js_sys::encode_uri_component(value)));
    out
}

/// `url` (no fragment) without its query parameter `key` (its name and `=`); without its `?` too
/// if nothing else was in the query.
pub(crate) fn without_param(url: &str, key: &str) -> String {
    let at = |text: &str, byte: u8| text.bytes().position(|b| b == byte);
    let start = at(url, b'?').unwrap_or(url.len());
    let mut out = String::from(url.get(..start).unwrap_or(url));
    let mut separator = '?';
    let mut rest = url.get(start + 1..).unwrap_or("");
    while !rest.is_empty() {
        let end = at(rest, b'&').unwrap_or(rest.len());
        let pair = rest.get(..end).unwrap_or(rest);
        if !pair.is_empty() && !pair.starts_with(key) {
            out.push(separator);
            out.push_str(pair);
            separator = '&';
        }
        rest = rest.get(end + 1..).unwrap_or("");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::without_param;

    #[test]
    fn without_param_drops_only_that_parameter() {
        let url = "ws://h/ws?resume=r1&token=t%2F1";
        assert_eq!(without_param(url, "token="), "ws://h/ws?resume=r1");
        assert_eq!(without_param(url, "resume="), "ws://h/ws?token=t%2F1");
        assert_eq!(without_param("ws://h/ws?token=t", "token="), "ws://h/ws");
        assert_eq!(without_param("ws://h/ws", "token="), "ws://h/ws");
        assert_eq!(
            without_param("ws://h/ws?tokens=2&token=t&x=1", "token="),
            "ws://h/ws?tokens=2&x=1",
            "a parameter whose name only starts the same stays"
        );
    }
}
