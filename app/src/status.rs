//! `Status`: what the status bar says about the connection.

use tether_client::ConnectionState;

/// How the status bar looks: its tone sets the colour and the dot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Connected.
    Ok,
    /// Connecting or about to reconnect.
    Busy,
    /// Not connected, and not trying right now.
    Down,
}

/// What the status bar says about a [`ConnectionState`] at a given time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The text: "Connected", "Reconnecting in 3 s (attempt 2)", ...
    pub label: String,
    /// Its colour.
    pub tone: Tone,
    /// Whether to offer "Reconnect now".
    pub can_reconnect: bool,
}

impl Status {
    /// Describes `state` at `now_ms` (milliseconds since the Unix epoch, the clock
    /// `ConnectionState::Reconnecting::at` uses).
    ///
    /// ```
    /// use tether_app::status::Status;
    /// use tether_client::ConnectionState;
    ///
    /// let status = Status::of(ConnectionState::Reconnecting { attempt: 2, at: 5_000 }, 2_100);
    /// assert_eq!(status.label, "Reconnecting in 3 s (attempt 2)");
    /// assert!(status.can_reconnect);
    /// ```
    pub fn of(state: ConnectionState, now_ms: u64) -> Self {
        let (label, tone, can_reconnect) = match state {
            ConnectionState::Connecting => ("Connecting…".to_owned(), Tone::Busy, false),
            ConnectionState::Open => ("Connected".to_owned(), Tone::Ok, false),
            ConnectionState::Closing => ("Closing…".to_owned(), Tone::Busy, false),
            ConnectionState::Reconnecting { attempt, at } => {
                // Whole seconds, rounded up, so the countdown never shows 0 while waiting.
                let seconds = at.saturating_sub(now_ms).div_ceil(1000);
                let label = if seconds == 0 {
                    format!("Reconnecting (attempt {attempt})…")
                } else {
                    format!("Reconnecting in {seconds} s (attempt {attempt})")
                };
                (label, Tone::Busy, true)
            }
            ConnectionState::Offline => (
                "Offline: waiting for the network".to_owned(),
                Tone::Down,
                true,
            ),
            ConnectionState::Closed => ("Disconnected".to_owned(), Tone::Down, true),
        };
        Self {
            label,
            tone,
            can_reconnect,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_is_connected_without_a_button() {
        let status = Status::of(ConnectionState::Open, 0);
        assert_eq!(status.label, "Connected");
        assert_eq!(status.tone, Tone::Ok);
        assert!(!status.can_reconnect);
    }

    #[test]
    fn reconnecting_counts_down_in_whole_seconds() {
        let state = ConnectionState::Reconnecting {
            attempt: 3,
            at: 10_000,
        };
        assert_eq!(
            Status::of(state, 7_000).label,
            "Reconnecting in 3 s (attempt 3)"
        );
        assert_eq!(
            Status::of(state, 7_001).label,
            "Reconnecting in 3 s (attempt 3)"
        );
        assert_eq!(
            Status::of(state, 9_999).label,
            "Reconnecting in 1 s (attempt 3)"
        );
        assert_eq!(Status::of(state, 10_500).label, "Reconnecting (attempt 3)…");
    }

    #[test]
    fn offline_and_closed_offer_a_reconnect() {
        for state in [ConnectionState::Offline, ConnectionState::Closed] {
            let status = Status::of(state, 0);
            assert_eq!(status.tone, Tone::Down);
            assert!(status.can_reconnect);
        }
    }

    #[test]
    fn connecting_is_busy() {
        assert_eq!(Status::of(ConnectionState::Connecting, 0).tone, Tone::Busy);
    }
}
