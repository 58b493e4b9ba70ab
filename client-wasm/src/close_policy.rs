//! Which close codes end a socket for good, and which call for a reconnect.

use crate::prelude::*;

/// What to do after the connection closed with a given code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseAction {
    /// Reconnect with backoff.
    Reconnect,
    /// Reconnect at once, with a fresh token: the server said the one presented expired (4419).
    /// The token provider ([`SocketOptions::token`](crate::SocketOptions::token), `token` in
    /// JavaScript) is asked before every attempt anyway; no backoff is needed for it to answer.
    /// A few renewals in a row that end at once again fall back to the backoff, so that a
    /// provider that keeps handing out expired tokens cannot spin.
    Renew,
    /// Stay closed: the server meant it (a policy or auth failure, a message that will never fit).
    Stop,
}

/// A table from close codes to [`CloseAction`]s. A close the user asked for (`Socket::close`)
/// never reconnects, whatever the table says.
///
/// Default: reconnect on 1001 (going away), 1005 (no code), 1006 (dropped), 1011 (server error),
/// 1012 (restart), 1013 (try again later) and 1014 (bad gateway); renew on 4419 (the token
/// expired); stop on everything else, including 1000, 1002, 1003, 1007, 1008 (policy), 1009 (too
/// big), 1010, 1015, 4001 (replaced by a newer connection), 4401 (no valid token), and the rest
/// of the 3000–4999 ranges where applications put their auth failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosePolicy {
    // The codes that do not stop, with what they do instead. One list rather than one per action:
    // the npm build pays for every list operation once per list.
    codes: Vec<(u16, CloseAction)>,
}

impl Default for ClosePolicy {
    fn default() -> Self {
        let reconnect = CloseAction::Reconnect;
        Self {
            codes: vec![
                (1001, reconnect),
                (1005, reconnect),
                (1006, reconnect),
                (1011, reconnect),
                (1012, reconnect),
                (1013, reconnect),
                (1014, reconnect),
                (4419, CloseAction::Renew),
            ],
        }
    }
}

impl ClosePolicy {
    /// Reconnects with backoff after `code`.
    pub fn reconnect_on(self, code: u16) -> Self {
        self.set(code, CloseAction::Reconnect)
    }

    /// Reconnects at once with a fresh token after `code` ([`CloseAction::Renew`]).
    pub fn renew_on(self, code: u16) -> Self {
        self.set(code, CloseAction::Renew)
    }

    /// Stops after `code`.
    pub fn stop_on(self, code: u16) -> Self {
        self.set(code, CloseAction::Stop)
    }

    /// Does `action` after `code`.
    pub fn set(mut self, code: u16, action: CloseAction) -> Self {
        self.codes.retain(|&(c, _)| c != code);
        if action != CloseAction::Stop {
            self.codes.push((code, action));
        }
        self
    }

    /// What to do after a close with `code`.
    pub fn action(&self, code: u16) -> CloseAction {
        self.codes
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(CloseAction::Stop, |&(_, action)| action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_codes_reconnect_and_policy_failures_stop() {
        let policy = ClosePolicy::default();
        for code in [1001, 1005, 1006, 1011, 1012, 1013, 1014] {
            assert_eq!(policy.action(code), CloseAction::Reconnect, "{code}");
        }
        for code in [
            1000, 1002, 1003, 1007, 1008, 1009, 1010, 1015, 3000, 4001, 4401, 4403,
        ] {
            assert_eq!(policy.action(code), CloseAction::Stop, "{code}");
        }
    }

    #[test]
    fn an_expired_token_renews_and_a_missing_or_invalid_one_stops() {
        use tether_protocol::CloseCode;
        let policy = ClosePolicy::default();
        assert_eq!(
            policy.action(CloseCode::TOKEN_EXPIRED.0),
            CloseAction::Renew
        );
        assert_eq!(policy.action(CloseCode::TOKEN_INVALID.0), CloseAction::Stop);
        assert_eq!(policy.action(CloseCode::REPLACED.0), CloseAction::Stop);
    }

    #[test]
    fn the_table_is_configurable() {
        let policy = ClosePolicy::default()
            .reconnect_on(4000)
            .stop_on(1013)
            .renew_on(4002)
            .reconnect_on(4419);
        assert_eq!(policy.action(4000), CloseAction::Reconnect);
        assert_eq!(policy.action(1013), CloseAction::Stop);
        assert_eq!(policy.action(4002), CloseAction::Renew);
        assert_eq!(
            policy.action(4419),
            CloseAction::Reconnect,
            "moved, not in both"
        );
        let policy = policy.stop_on(4419).stop_on(4002);
        assert_eq!(policy.action(4419), CloseAction::Stop);
        assert_eq!(policy.action(4002), CloseAction::Stop);
        assert_eq!(
            ClosePolicy::default().reconnect_on(1006),
            ClosePolicy::default().reconnect_on(1006).reconnect_on(1006),
            "a code is listed once"
        );
    }

    #[test]
    fn agrees_with_the_servers_transient_codes() {
        let policy = ClosePolicy::default();
        for code in 1000..1016 {
            if tether_protocol::CloseCode(code).is_transient() {
                assert_eq!(policy.action(code), CloseAction::Reconnect, "{code}");
            }
        }
    }
}
