//! Faults a test can ask a connection to simulate, with `--test-mode` only.

use serde::Deserialize;

/// A simulated misbehaviour, chosen per connection with a query parameter on `/ws` when the server
/// runs with `--test-mode` (never otherwise): `?fault=mute`, `?fault=close&code=1008`,
/// `?fault=echo`. Browser tests use these to provoke what a real server does only under failure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Fault {
    /// Behave normally.
    #[default]
    None,
    /// After `connected`, send nothing at all, pongs included: a server that hangs.
    Mute,
    /// After `connected`, close with this code.
    Close(u16),
    /// Send every frame back unchanged (text as text, binary as binary), instead of the protocol.
    Echo,
}

/// The query string of `/ws`, as far as faults are concerned.
#[derive(Debug, Default, Deserialize)]
pub struct FaultQuery {
    fault: Option<String>,
    code: Option<u16>,
}

impl FaultQuery {
    /// The fault asked for; unknown names mean none.
    pub fn fault(&self) -> Fault {
        match (self.fault.as_deref(), self.code) {
            (Some("mute"), _) => Fault::Mute,
            (Some("close"), Some(code)) => Fault::Close(code),
            (Some("echo"), _) => Fault::Echo,
            _ => Fault::None,
        }
    }
}
