//! The WebSocket opening handshake (RFC 6455, section 4.2), on axum's request and response types.
//!
//! Done here rather than by axum's `WebSocketUpgrade` because the connection needs the upgraded
//! stream itself: it writes broadcast frames, encoded once for every recipient, straight to the
//! socket with vectored writes (see `connection.rs`), and axum's `WebSocket` hides its stream.

use crate::frame_guard::FrameGuard;
use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header},
    response::{IntoResponse, Response},
};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{
        handshake::derive_accept_key,
        protocol::{Role, WebSocketConfig},
    },
};

/// The upgraded connection a handshake yields: its incoming frames' headers checked by a
/// [`FrameGuard`] on the way to tungstenite.
pub type UpgradedSocket = WebSocketStream<FrameGuard<TokioIo<Upgraded>>>;

/// A valid WebSocket upgrade request, accepted: [`response`](Self::response) is the 101 to send
/// back, and [`into_socket`](Self::into_socket) resolves once hyper has handed over the stream.
#[derive(Debug)]
pub struct Handshake {
    accept: HeaderValue,
    protocol: Option<&'static str>,
    on_upgrade: OnUpgrade,
}

impl Handshake {
    /// Checks that `request` asks for a WebSocket (version 13) and picks the subprotocol: the
    /// first of `protocols` (in the server's order of preference) that the client offered.
    ///
    /// Refusals: 405 for a method other than GET; 426 with `Upgrade: websocket` for a request
    /// that does not ask for an upgrade, or that cannot be upgraded (HTTP/2); 426 with
    /// `Sec-WebSocket-Version: 13` for another version; 400 for a missing or repeated `Host`,
    /// and for a key that is missing, repeated, or not 16 bytes in base64 (RFC 6455, 4.2.1).
    // The refusal is an HTTP response, built once and returned as is: boxing it buys nothing.
    #[allow(clippy::result_large_err)]
    pub fn accept(
        request: &mut Request<Body>,
        protocols: &[&'static str],
    ) -> Result<Self, Response> {
        if request.method() != Method::GET {
            return Err((
                StatusCode::METHOD_NOT_ALLOWED,
                "WebSocket upgrades use GET\n",
            )
                .into_response());
        }
        let headers = request.headers();
        if !has_token(headers, header::CONNECTION, "upgrade")
            || !has_token(headers, header::UPGRADE, "websocket")
        {
            return Err(upgrade_required());
        }
        if headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .map(HeaderValue::as_bytes)
            != Some(b"13")
        {
            return Err((
                StatusCode::UPGRADE_REQUIRED,
                [(header::SEC_WEBSOCKET_VERSION, "13")],
                "only WebSocket version 13 is supported\n",
            )
                .into_response());
        }
        if headers.get_all(header::HOST).iter().count() != 1 {
            return Err(bad_request("a request needs exactly one Host header\n"));
        }
        let mut keys = headers.get_all(header::SEC_WEBSOCKET_KEY).iter();
        let key = match (keys.next(), keys.next()) {
            (Some(key), None) if is_websocket_key(key.as_bytes()) => key.as_bytes(),
            (None, _) => return Err(bad_request("missing Sec-WebSocket-Key\n")),
            (Some(_), Some(_)) => return Err(bad_request("more than one Sec-WebSocket-Key\n")),
            (Some(_), None) => {
                return Err(bad_request(
                    "Sec-WebSocket-Key must be 16 bytes in base64 (24 characters)\n",
                ));
            }
        };
        let accept = HeaderValue::from_str(&derive_accept_key(key))
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())?;
        let protocol = protocols
            .iter()
            .copied()
            .find(|protocol| has_token(headers, header::SEC_WEBSOCKET_PROTOCOL, protocol));
        let on_upgrade = request
            .extensions_mut()
            .remove::<OnUpgrade>()
            .ok_or_else(upgrade_required)?;
        Ok(Self {
            accept,
            protocol,
            on_upgrade,
        })
    }

    /// The 101 Switching Protocols response.
    pub fn response(&self) -> Response {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, self.accept.clone());
        if let Some(protocol) = self.protocol {
            headers.insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(protocol),
            );
        }
        response
    }

    /// Waits for hyper to hand over the connection once the 101 is sent, and wraps it as a
    /// server-side WebSocket.
    pub async fn into_socket(
        self,
        config: WebSocketConfig,
    ) -> Result<UpgradedSocket, hyper::Error> {
        let upgraded = self.on_upgrade.await?;
        Ok(WebSocketStream::from_raw_socket(
            FrameGuard::new(TokioIo::new(upgraded)),
            Role::Server,
            Some(config),
        )
        .await)
    }
}

fn bad_request(why: &'static str) -> Response {
    (StatusCode::BAD_REQUEST, why).into_response()
}

/// Whether `key` is 16 bytes in base64: 22 characters of the alphabet and `==`.
fn is_websocket_key(key: &[u8]) -> bool {
    let is_base64 = |c: &u8| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/';
    key.len() == 24 && key[22..] == *b"==" && key[..22].iter().all(is_base64)
}

fn upgrade_required() -> Response {
    (
        StatusCode::UPGRADE_REQUIRED,
        [(header::UPGRADE, "websocket")],
        "this endpoint speaks WebSocket only\n",
    )
        .into_response()
}

/// Whether any `name` header holds `token` in its comma-separated list, ignoring ASCII case.
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request<Body> {
        let mut builder = Request::get("/ws");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let mut request = builder.body(Body::empty()).expect("request");
        // Stands in for what hyper adds to a request on a connection that can be upgraded (one
        // that never completes: these tests only look at the handshake's answer).
        let on_upgrade = hyper::upgrade::on(Request::new(()));
        request.extensions_mut().insert(on_upgrade);
        request
    }

    const UPGRADE: [(&str, &str); 5] = [
        ("host", "chat.example"),
        ("connection", "keep-alive, Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    fn status(result: Result<Handshake, Response>) -> StatusCode {
        match result {
            Ok(handshake) => handshake.response().status(),
            Err(response) => response.status(),
        }
    }

    #[test]
    fn accepts_with_the_rfcs_example_key() {
        let handshake = Handshake::accept(&mut request(&UPGRADE), &[]).expect("accepted");
        let response = handshake.response();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        // RFC 6455, section 1.3.
        assert_eq!(
            response.headers()[header::SEC_WEBSOCKET_ACCEPT],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert!(
            response
                .headers()
                .get(header::SEC_WEBSOCKET_PROTOCOL)
                .is_none()
        );
    }

    #[test]
    fn picks_the_servers_first_protocol_the_client_offers() {
        let mut headers = UPGRADE.to_vec();
        headers.push(("sec-websocket-protocol", "json, chat"));
        let handshake =
            Handshake::accept(&mut request(&headers), &["chat", "json"]).expect("accepted");
        assert_eq!(
            handshake.response().headers()[header::SEC_WEBSOCKET_PROTOCOL],
            "chat"
        );
    }

    #[test]
    fn refuses_what_is_not_a_websocket_upgrade() {
        assert_eq!(
            status(Handshake::accept(&mut request(&[]), &[])),
            StatusCode::UPGRADE_REQUIRED
        );
        let mut post = request(&UPGRADE);
        *post.method_mut() = Method::POST;
        assert_eq!(
            status(Handshake::accept(&mut post, &[])),
            StatusCode::METHOD_NOT_ALLOWED
        );
        let old = [
            UPGRADE[0],
            UPGRADE[1],
            UPGRADE[2],
            ("sec-websocket-version", "8"),
            UPGRADE[4],
        ];
        assert_eq!(
            status(Handshake::accept(&mut request(&old), &[])),
            StatusCode::UPGRADE_REQUIRED
        );
        let keyless = &UPGRADE[..4];
        assert_eq!(
            status(Handshake::accept(&mut request(keyless), &[])),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn keys_that_are_not_16_bytes_in_base64_get_400() {
        for key in [
            "",
            "dGhlIHNhbXBsZSBub25jZQ",
            "dGhlIHNhbXBsZSBub25jZQ===",
            "dGhlIHNhbXBsZSBub25jZQ!=",
            "dGhlIHNhbXBsZSBub25jZSBhbmQgbW9yZQ==",
            "not a key at all",
        ] {
            let mut headers = UPGRADE.to_vec();
            headers[4] = ("sec-websocket-key", key);
            assert_eq!(
                status(Handshake::accept(&mut request(&headers), &[])),
                StatusCode::BAD_REQUEST,
                "{key:?}"
            );
        }
    }

    #[test]
    fn a_repeated_key_or_host_or_none_gets_400() {
        let mut two_keys = UPGRADE.to_vec();
        two_keys.push(("sec-websocket-key", "AAAAAAAAAAAAAAAAAAAAAA=="));
        let mut two_hosts = UPGRADE.to_vec();
        two_hosts.push(("host", "evil.example"));
        let hostless = &UPGRADE[1..];
        for headers in [&two_keys[..], &two_hosts[..], hostless] {
            assert_eq!(
                status(Handshake::accept(&mut request(headers), &[])),
                StatusCode::BAD_REQUEST,
                "{headers:?}"
            );
        }
    }

    #[test]
    fn a_request_that_cannot_be_upgraded_gets_426() {
        let mut request = request(&UPGRADE);
        request.extensions_mut().remove::<OnUpgrade>();
        assert_eq!(
            status(Handshake::accept(&mut request, &[])),
            StatusCode::UPGRADE_REQUIRED
        );
    }
}
