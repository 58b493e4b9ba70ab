//! Which close codes end a socket for good, and which call for a reconnect.

use crate::prelude::*;

/// What to do after the connection closed with a given code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseAction {
    /// Reconnect with backoff.
    Reconnect,
    /// Stay closed: the server meant it (a policy or auth failure, a message that will never fit).
    Stop,
}

/// A table from close codes to [`CloseAction`]s. A close the user asked for (`Socket::close`)
/// never reconnects, whatever the table says.
///
/// Default: reconnect on 1001 (going away), 1005 (no code), 1006 (dropped), 1011 (server error),
/// 1012 (restart), 1013 (try again later) and 1014 (bad gateway); stop on everything else,
/// including 1000, 1002, 1003, 1007, 1008 (policy), 1009 (too big), 1010, 1015, and the 3000–4999
/// ranges where applications put their auth failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosePolicy {
    reconnect: Vec<u16>,
}

impl Default for ClosePolicy {
    fn default() -> Self {
        Self {
            reconnect: vec![1001, 1005, 1006, 1011, 1012, 1013, 1014],
        }
    }
}

impl ClosePolicy {
    /// Reconnects after `code` too.
    pub fn reconnect_on(mut self, code: u16) -> Self {
        if !self.reconnect.contains(&code) {
            self.reconnect.push(code);
        }
        self
    }

    /// Stops after `code`.
    pub fn stop_on(mut self, code: u16) -> Self {
        self.reconnect.retain(|&c| c != code);
        self
    }

    /// What to do after a close with `code`.
    pub fn action(&self, code: u16) -> CloseAction {
        if self.reconnect.contains(&code) {
            CloseAction::Reconnect
        } else {
            CloseAction::Stop
        }
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
            1000, 1002, 1003, 1007, 1008, 1009, 1010, 1015, 3000, 4001, 4403,
        ] {
            assert_eq!(policy.action(code), CloseAction::Stop, "{code}");
        }
    }

    #[test]
    fn the_table_is_configurable() {
        let policy = ClosePolicy::default().reconnect_on(4000).stop_on(1013);
        assert_eq!(policy.action(4000), CloseAction::Reconnect);
        assert_eq!(policy.action(1013), CloseAction::Stop);
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
