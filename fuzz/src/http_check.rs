//! What an answer to a request head must look like, and the same head through the handshake and
//! the origin check in process.

use crate::test_server::{ALLOWED_ORIGIN, Answer, SECRET};
use axum::{
    body::Body,
    http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Version, header},
};
use tether_server::{Handshake, OriginPolicy};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// The subprotocols the server accepts, in its order of preference (as in `server.rs`).
const PROTOCOLS: [&str; 2] = ["chat", "json"];

/// The first request head in `input`, when httparse reads a complete one and its parts make an
/// `http` request: the method, the target, the version and the headers, in order.
#[derive(Debug, Clone)]
pub struct RequestHead {
    method: Method,
    target: String,
    version: Version,
    headers: HeaderMap,
}

impl RequestHead {
    /// Reads the first request head of `input`.
    pub fn parse(input: &[u8]) -> Option<Self> {
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut request = httparse::Request::new(&mut headers);
        if !request.parse(input).ok()?.is_complete() {
            return None;
        }
        let mut map = HeaderMap::new();
        for header in request.headers.iter() {
            map.append(
                HeaderName::from_bytes(header.name.as_bytes()).ok()?,
                HeaderValue::from_bytes(header.value).ok()?,
            );
        }
        Some(Self {
            method: Method::from_bytes(request.method?.as_bytes()).ok()?,
            target: request.path?.to_owned(),
            version: match request.version? {
                0 => Version::HTTP_10,
                _ => Version::HTTP_11,
            },
            headers: map,
        })
    }

    /// The head as a request that hyper could upgrade, as the router hands it to the handshake.
    fn request(&self) -> Option<Request<Body>> {
        let mut request = Request::builder()
            .method(self.method.clone())
            .uri(self.target.as_str())
            .version(self.version)
            .body(Body::empty())
            .ok()?;
        *request.headers_mut() = self.headers.clone();
        // What hyper adds to a request on a connection that can be upgraded; it never completes
        // here, which the handshake's answer does not need.
        let on_upgrade = hyper::upgrade::on(Request::new(()));
        request.extensions_mut().insert(on_upgrade);
        Some(request)
    }

    /// Whether the method is HEAD (its answer has no body).
    pub fn is_head_method(&self) -> bool {
        self.method == Method::HEAD
    }

    /// Whether the target is the WebSocket route.
    fn is_ws_route(&self) -> bool {
        self.request()
            .is_some_and(|request| request.uri().path() == "/ws")
    }
}

/// What the in-process handshake and origin check made of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// `Handshake::accept` took it.
    pub accepted: bool,
    /// The server's origin policy (the allowed origin, and localhost) lets it through.
    pub allowed: bool,
}

/// Runs `head` through [`Handshake::accept`] and four [`OriginPolicy`]s, and checks what they
/// say: an accepted handshake is a GET with one Host, version 13 and one valid key, answered 101
/// with the key's accept value and a subprotocol the client offered; a refusal is 400, 405 or
/// 426; no `Origin` is always allowed, two never; the server's policy is exactly the union of a
/// policy with its origin and one with localhost.
pub fn check_in_process(head: &RequestHead) -> Option<Verdict> {
    let mut request = head.request()?;
    let accepted = match Handshake::accept(&mut request, &PROTOCOLS) {
        Ok(handshake) => {
            check_accepted(head, &handshake);
            true
        }
        Err(refusal) => {
            let status = refusal.status();
            assert!(
                [
                    StatusCode::BAD_REQUEST,
                    StatusCode::METHOD_NOT_ALLOWED,
                    StatusCode::UPGRADE_REQUIRED
                ]
                .contains(&status),
                "the handshake refused with {status}"
            );
            false
        }
    };
    let headers = &head.headers;
    let configured = OriginPolicy::new(&[ALLOWED_ORIGIN.into()], false);
    let localhost = OriginPolicy::new(&[], true);
    let any = OriginPolicy::new(&["*".into()], false);
    let server = OriginPolicy::new(&[ALLOWED_ORIGIN.into()], true);
    let allowed = server.allows(headers);
    let origins = headers.get_all(header::ORIGIN).iter().count();
    assert_eq!(
        allowed,
        configured.allows(headers) || localhost.allows(headers),
        "the server's policy is not its parts' union"
    );
    match origins {
        0 => assert!(allowed && any.allows(headers), "no Origin is not a browser"),
        1 => assert!(any.allows(headers), "`*` refused an origin"),
        _ => assert!(
            !allowed && !any.allows(headers),
            "{origins} Origin headers allowed"
        ),
    }
    Some(Verdict { accepted, allowed })
}

fn check_accepted(head: &RequestHead, handshake: &Handshake) {
    let headers = &head.headers;
    assert_eq!(head.method, Method::GET, "accepted a {}", head.method);
    assert_eq!(headers.get_all(header::HOST).iter().count(), 1, "Host");
    assert_eq!(
        headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .map(HeaderValue::as_bytes),
        Some(&b"13"[..]),
        "version"
    );
    let mut keys = headers.get_all(header::SEC_WEBSOCKET_KEY).iter();
    let (Some(key), None) = (keys.next(), keys.next()) else {
        panic!("accepted without exactly one key");
    };
    let response = handshake.response();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(
        response.headers()[header::SEC_WEBSOCKET_ACCEPT],
        derive_accept_key(key.as_bytes()).as_str(),
        "the accept value"
    );
    if let Some(protocol) = response.headers().get(header::SEC_WEBSOCKET_PROTOCOL) {
        let protocol = protocol.to_str().expect("a static protocol");
        let offered = headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|offer| offer.trim().eq_ignore_ascii_case(protocol));
        assert!(offered, "picked {protocol}, which the client did not offer");
    }
}

/// Checks the real server's answer to an input: nothing, or an HTTP/1 response that is not a
/// 500 and never holds [`SECRET`]; a 101 only for a head the in-process handshake accepted and
/// the origin policy allowed (`in_process`: the input's first head and the verdict on it), with
/// the right accept value; a 403 only for one the policy refused.
pub fn check_answer(in_process: Option<(&RequestHead, Verdict)>, answer: &Answer) {
    let bytes = &answer.bytes;
    assert!(
        !contains(bytes, SECRET.as_bytes()),
        "a file outside the static folder was served"
    );
    if bytes.is_empty() {
        return;
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let complete = match response.parse(bytes) {
        Ok(status) => status.is_complete(),
        Err(err) => panic!("not an HTTP response ({err}): {}", excerpt(bytes)),
    };
    if !complete {
        // A reset can cut an answer short; a clean close never does.
        assert!(
            answer.reset,
            "a response head cut short: {}",
            excerpt(bytes)
        );
        return;
    }
    let status = response.code.expect("a complete head has a status");
    assert_ne!(status, 500, "an internal error: {}", excerpt(bytes));
    match status {
        101 => {
            let (head, verdict) = in_process.expect("101 for a head that is not a request");
            assert!(
                verdict.accepted && verdict.allowed,
                "101, in process {verdict:?}: {}",
                excerpt(bytes)
            );
            let key = head
                .headers
                .get(header::SEC_WEBSOCKET_KEY)
                .expect("accepted with a key");
            let accept = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"))
                .map(|h| h.value);
            assert_eq!(
                accept,
                Some(derive_accept_key(key.as_bytes()).as_bytes()),
                "the accept value"
            );
        }
        403 => {
            if let Some((head, verdict)) = in_process {
                assert!(
                    head.is_ws_route() && !verdict.allowed,
                    "403, in process {verdict:?}: {}",
                    excerpt(bytes)
                );
            }
        }
        _ => {}
    }
}

/// The start of an answer, for a failure's message.
fn excerpt(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(600)]).into_owned()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
