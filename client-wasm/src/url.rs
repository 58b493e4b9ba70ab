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

/// `url` with the query parameter `resume=<token>` (encoded), which gives a client its id back;
/// one the URL has already is replaced.
pub(crate) fn with_resume(url: &str, token: &str) -> String {
    match web_sys::Url::new(url) {
        Ok(parsed) => {
            let search = parsed.search();
            let mut query: Vec<String> = search
                .trim_start_matches('?')
                .split('&')
                .filter(|pair| !pair.is_empty() && !pair.starts_with("resume="))
                .map(str::to_owned)
                .collect();
            let token = String::from(js_sys::encode_uri_component(token));
            query.push(format!("resume={token}"));
            parsed.set_search(&query.join("&"));
            parsed.href()
        }
        Err(_) => url.to_owned(),
    }
}
