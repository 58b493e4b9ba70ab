//! Signing in to a server with token auth, from the chat screen.
//!
//! The app learns that a server wants tokens from the server itself: the page connects without a
//! token, as it always has, and a server with token auth closes that connection with 4401
//! ([`ChatState::needs_sign_in`](crate::ChatState::needs_sign_in)). A server without auth never
//! does, so there the app makes no extra request and presents no token: it is the app it was.
//!
//! Once the user has a nickname, [`use_sign_in`] gives the socket a
//! [`TokenProvider`](tether_client::TokenProvider) and connects again. The provider asks the
//! server's development issuer (`POST /dev/token`, served with `--dev-issue-tokens`) for a token
//! for that name and for the user id the first answer gave, which the browser keeps
//! ([`browser_store::user`]): the same person stays the same user across reconnects, reloads and
//! visits. The name then comes from the token (`connected`'s `name`), and `identify` is not sent.
//!
//! It asks for a fresh token before every connection attempt rather than keeping one until its
//! `exp`: attempts are rare (a load, a reconnect, the 4419 of an expired token), the issuer is
//! the same server, a fresh token is right whatever the browser's clock says, and it is signed
//! with the server's current key (a `--dev-issue-tokens` server without `--jwt-secret` draws a
//! new key on every start, and the client takes a 4401 for a token of the old one as final).
//!
//! A server that wants tokens but issues none (`--jwt-secret` alone: tokens come from an identity
//! provider this app does not know) answers 404: the app says so in the notice and closes the
//! socket rather than retry. The whole module travels in the chat screen's .wasm.

use crate::{ChatClient, browser_store};
use js_sys::{Function, Promise};
use leptos::prelude::*;
use tether_client::{JsonValue, TokenProvider};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Where the server's development issuer hands out tokens.
pub const DEV_TOKEN_PATH: &str = "/dev/token";

/// What the notice says when the server wants tokens and hands none out.
pub const NO_ISSUER: &str = "This server asks for a sign-in token and hands none out, so the chat \
                             cannot sign in (it can when the server runs with --dev-issue-tokens).";

/// What the notice says when the server refuses a token it has just issued: asking again would
/// only be refused again.
pub const REFUSED: &str =
    "The server refused the sign-in token it gave, so the chat cannot sign in.";

/// A token from the development issuer, and the user it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevToken {
    /// The JWT.
    pub token: String,
    /// Its user (`sub`): asked for again next time.
    pub user_id: String,
}

/// Why no token came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The server issues no tokens (404).
    NotIssued,
    /// The server refused the request, in these words (a name it does not take, say).
    Refused(String),
    /// No answer, or not a token: the server may be away. The attempt fails and is retried.
    Unreachable,
}

/// What the answer to `POST /dev/token` means: its `status` and its `body`.
///
/// ```
/// use tether_app::sign_in::{TokenError, answer};
///
/// assert_eq!(answer(404, ""), Err(TokenError::NotIssued));
/// assert_eq!(answer(400, "bad user\n"), Err(TokenError::Refused("bad user".into())));
/// assert_eq!(answer(503, ""), Err(TokenError::Unreachable));
/// ```
pub fn answer(status: u16, body: &str) -> Result<DevToken, TokenError> {
    match status {
        200 => read_dev_token(body).ok_or(TokenError::Unreachable),
        // 405: a server from before the route was always there, whose file service answered.
        404 | 405 => Err(TokenError::NotIssued),
        // A timeout or a rate limit passes; any other 4xx would be refused again.
        408 | 429 => Err(TokenError::Unreachable),
        400..=499 => Err(TokenError::Refused(body.trim().to_owned())),
        _ => Err(TokenError::Unreachable),
    }
}

/// Reads `{"token": …, "userId": …}`; `None` for anything else.
pub fn read_dev_token(body: &str) -> Option<DevToken> {
    let json = JsonValue::parse(body)?;
    Some(DevToken {
        token: json.string("token")?,
        user_id: json.string("userId")?,
    })
}

/// Asks the page's server for a token for `name`, as `user` if given (else the server makes a
/// user up).
///
/// Written with the browser bindings the first page has already (`JSON.parse`, `Reflect.get`,
/// `Function.call`, through [`JsonValue`]) and `fetch` with a request init: every binding adds
/// JavaScript glue to the first load, whose budget is 100 KB, whichever module calls it.
pub async fn fetch_dev_token(name: &str, user: Option<&str>) -> Result<DevToken, TokenError> {
    let window = web_sys::window().ok_or(TokenError::Unreachable)?;
    let init = JsonValue::parse(&request_init(name, user)).ok_or(TokenError::Unreachable)?;
    let fetched = window.fetch_with_str_and_init(DEV_TOKEN_PATH, init.as_ref().unchecked_ref());
    let response = JsonValue::from(
        JsFuture::from(fetched)
            .await
            .map_err(|_| TokenError::Unreachable)?,
    );
    let status = response
        .get("status")
        .and_then(|status| status.as_u64())
        .ok_or(TokenError::Unreachable)?;
    // `response.text()`, through `Function.call`.
    let text = response.get("text").map(|text| {
        text.as_ref()
            .unchecked_ref::<Function>()
            .call1(response.as_ref(), &JsValue::UNDEFINED)
    });
    let body = match text {
        Some(Ok(promise)) => JsFuture::from(Promise::from(promise)).await.ok(),
        _ => None,
    };
    let body = body.and_then(|body| body.as_string()).unwrap_or_default();
    answer(u16::try_from(status).unwrap_or(0), &body)
}

/// The `fetch` init of a token request, as JSON: a POST of `{"name", "user"}`.
///
/// ```
/// use tether_app::sign_in::request_init;
///
/// assert_eq!(
///     request_init("Ada \"A\"", Some("dev-1")),
///     r#"{"method":"POST","headers":{"content-type":"application/json"},"body":"{\"name\":\"Ada \\\"A\\\"\",\"user\":\"dev-1\"}"}"#
/// );
/// ```
pub fn request_init(name: &str, user: Option<&str>) -> String {
    let mut body = String::from("{\"name\":");
    json_string(&mut body, name);
    if let Some(user) = user {
        body.push_str(",\"user\":");
        json_string(&mut body, user);
    }
    body.push('}');
    let mut init =
        String::from(r#"{"method":"POST","headers":{"content-type":"application/json"},"body":"#);
    json_string(&mut init, &body);
    init.push('}');
    init
}

/// Appends `text` to `out` as a JSON string: quoted, with `"`, `\` and control characters
/// escaped.
fn json_string(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                out.push_str("\\u00");
                out.push(char::from(HEX[(u32::from(c) >> 4) as usize]));
                out.push(char::from(HEX[(u32::from(c) & 15) as usize]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Signs in whenever the server wants a token ([`ChatState::needs_sign_in`]), for as long as the
/// current owner (the chat screen) lives: now, if the server has already said so, and later if
/// it does. The chat screen is shown only with a nickname, which is the name asked for.
///
/// [`ChatState::needs_sign_in`]: crate::ChatState::needs_sign_in
pub fn use_sign_in(client: ChatClient) {
    // Per chat screen: a refused name takes the user back to the nickname form, and the next
    // screen signs in with the next name.
    let signed_in = StoredValue::new(false);
    // At once, before the screen joins its rooms: a socket closed by a 4401 takes no joins,
    // one connecting again does.
    if client.state.with_untracked(|s| s.needs_sign_in) {
        sign_in(client, signed_in);
    }
    let wanted = Memo::new(move |_| client.state.with(|s| s.needs_sign_in));
    Effect::new(move |_| {
        if wanted.get() {
            sign_in(client, signed_in);
        }
    });
}

fn sign_in(client: ChatClient, signed_in: StoredValue<bool>) {
    let Some(name) = client.state.try_update(|s| {
        s.needs_sign_in = false;
        s.nickname.clone()
    }) else {
        return;
    };
    // Every token the provider hands out is fresh: one refused after signing in will not do
    // better next time.
    if signed_in.get_value() {
        client.state.update(|s| s.notice = Some(REFUSED.to_owned()));
        return;
    }
    let Some(name) = name else {
        return;
    };
    signed_in.set_value(true);
    client.socket.set_token(provider(client, name));
    client.socket.open();
}

/// The socket's token provider: a fresh token for `name` before every attempt.
fn provider(client: ChatClient, name: String) -> TokenProvider {
    TokenProvider::new(move || {
        let name = name.clone();
        async move {
            let user = browser_store::user();
            match fetch_dev_token(&name, user.as_deref()).await {
                Ok(token) => {
                    browser_store::save_user(&token.user_id);
                    Ok(token.token)
                }
                Err(error) => Err(refused(client, &name, error)),
            }
        }
    })
}

/// Says why there is no token, and stops connecting where asking again cannot help: a server
/// that issues no tokens, or one that refuses the name (then back to the nickname form, and the
/// next name signs in). Returns the reason for the failed attempt's close event.
fn refused(client: ChatClient, name: &str, error: TokenError) -> String {
    let notice = match error {
        TokenError::Unreachable => return "no token: the server did not answer".to_owned(),
        TokenError::NotIssued => NO_ISSUER.to_owned(),
        TokenError::Refused(why) => {
            let _ = client.state.try_update(|s| {
                s.nickname = None;
                s.needs_sign_in = true;
            });
            format!("The server refused the name {name}: {why}")
        }
    };
    client.socket.close();
    let _ = client.state.try_update(|s| s.notice = Some(notice.clone()));
    notice
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_as_json_strings() {
        let mut out = String::new();
        json_string(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, r#""a\"b\\c\u000ad\u0001é""#);
    }

    #[test]
    fn only_a_missing_issuer_and_a_refusal_are_final() {
        assert_eq!(answer(404, "Not Found"), Err(TokenError::NotIssued));
        assert_eq!(
            answer(400, "the name contains a hidden character\n"),
            Err(TokenError::Refused(
                "the name contains a hidden character".into()
            ))
        );
        for status in [408, 429, 500, 502, 503] {
            assert_eq!(answer(status, ""), Err(TokenError::Unreachable), "{status}");
        }
    }
}
