//! `TokenProvider`: where a socket gets the token it presents on each connection.

use crate::url::with_param;
use std::{
    fmt,
    future::Future,
    rc::{Rc, Weak},
};

/// Where a provider's answer goes: the socket's engine, which then creates the attempt's browser
/// socket.
pub(crate) trait Answer {
    /// Attempt `attempt`'s URL, its token in the query, or why there is none.
    fn answer(self: Rc<Self>, attempt: u32, url: Result<String, String>);
}

type Ask = dyn Fn(String, u32, Weak<dyn Answer>);

/// An async function that hands out a fresh token (a JWT, say) before every connection attempt:
/// see [`SocketOptions::token`](crate::SocketOptions::token).
///
/// The future is spawned and the token put into the URL here, in the generic constructor, so
/// that only an app that gives a provider links that code: a socket without one pays for an
/// empty `Option`.
#[derive(Clone)]
pub struct TokenProvider(Rc<Ask>);

impl TokenProvider {
    /// Wraps an async function. An `Err` (its text becomes the close event's reason) fails the
    /// attempt, which is retried with backoff.
    pub fn new<F, Fut>(provider: F) -> Self
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<String, String>> + 'static,
    {
        Self(Rc::new(
            move |url: String, attempt, to: Weak<dyn Answer>| {
                let token = provider();
                wasm_bindgen_futures::spawn_local(async move {
                    let url = token.await.map(|token| with_param(&url, "token=", &token));
                    if let Some(to) = to.upgrade() {
                        to.answer(attempt, url);
                    }
                });
            },
        ))
    }

    /// Asks for a token for attempt `attempt`, to go into `url`; `to` gets the answer, later.
    pub(crate) fn ask(&self, url: String, attempt: u32, to: Weak<dyn Answer>) {
        (self.0)(url, attempt, to);
    }
}

// Not derived: a closure has no `Debug`. A token never shows, since the provider holds none.
impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenProvider")
    }
}
