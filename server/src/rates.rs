//! How fast one connection may send: its rate limits, and when it is flooding.

use crate::Config;
use governor::{
    Quota, RateLimiter,
    clock::{Clock, MonotonicClock},
    state::{InMemoryState, NotKeyed},
};
use std::{num::NonZeroU32, time::Duration};

/// A GCRA limiter on std's monotonic clock: a few words per limiter, which every connection pays.
type Limiter = RateLimiter<NotKeyed, InMemoryState, MonotonicClock>;

/// The window over which `--flood-strikes` refusals close a connection.
const STRIKE_WINDOW: Duration = Duration::from_secs(10);

/// What a connection may send now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Go ahead.
    Allowed,
    /// Refuse it, and tell the client to wait this long first.
    Refused(Duration),
    /// Drop it without a word (a typing notice over its rate).
    Drop,
    /// The client went on sending after being refused too often: close the connection.
    Flood,
}

/// What kind of message is asking, each kind with its own rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Everything but joins and typing notices: chat, private messages, presence, pings (the
    /// protocol's and WebSocket's), leaves, and what cannot be decoded.
    Message,
    /// A `join`.
    Join,
    /// A `typing` notice: over its rate it is dropped, not refused.
    Typing,
}

/// One connection's rate limits (`--message-rate`, `--join-rate`, `--typing-rate` with their
/// bursts, and `--text-byte-rate` for the bytes of chat text), and its strikes: every refusal is one, and a connection that collects more than
/// `--flood-strikes` within 10 seconds is flooding.
///
/// The limits live with the session, so each connection has its own and checking one touches
/// nothing shared.
#[derive(Debug)]
pub struct Rates {
    messages: Option<Limiter>,
    // Bytes of chat text (room and private messages): what a sender makes every member read.
    text_bytes: Option<Limiter>,
    joins: Option<Limiter>,
    typing: Option<Limiter>,
    strikes: Option<Limiter>,
}

impl Rates {
    /// The limits `config` sets; a rate of 0 is no limit.
    pub fn new(config: &Config) -> Self {
        let messages = limiter(config.message_rate, config.message_burst);
        let joins = limiter(config.join_rate, config.join_burst);
        let strikes = (messages.is_some() || joins.is_some() || config.text_byte_rate != 0)
            .then(|| NonZeroU32::new(config.flood_strikes.max(1)))
            .flatten()
            .and_then(|strikes| {
                let quota = Quota::with_period(STRIKE_WINDOW / strikes.get())?.allow_burst(strikes);
                Some(Limiter::direct_with_clock(quota, MonotonicClock))
            });
        // A burst smaller than the longest text would refuse every long message forever.
        let text_burst = config.text_byte_burst.max(config.max_text_bytes as u32);
        Self {
            messages,
            text_bytes: limiter(config.text_byte_rate, text_burst),
            joins,
            typing: limiter(config.typing_rate, config.typing_burst),
            strikes,
        }
    }

    /// Whether a message of this kind may go through now.
    pub fn admit(&self, kind: Kind) -> Admit {
        let limiter = match kind {
            Kind::Message => &self.messages,
            Kind::Join => &self.joins,
            Kind::Typing => &self.typing,
        };
        let Some(limiter) = limiter else {
            return Admit::Allowed;
        };
        match limiter.check() {
            Ok(()) => Admit::Allowed,
            Err(_) if kind == Kind::Typing => Admit::Drop,
            Err(not_until) => self.strike(not_until.wait_time_from(MonotonicClock.now())),
        }
    }
}

impl Rates {
    /// Whether a chat text of `len` bytes may go out now, by `--text-byte-rate`.
    pub fn admit_text(&self, len: usize) -> Admit {
        let (Some(limiter), Some(n)) = (&self.text_bytes, NonZeroU32::new(len as u32)) else {
            return Admit::Allowed;
        };
        match limiter.check_n(n) {
            Ok(Ok(())) | Err(_) => Admit::Allowed,
            Ok(Err(not_until)) => self.strike(not_until.wait_time_from(MonotonicClock.now())),
        }
    }

    fn strike(&self, wait: Duration) -> Admit {
        match &self.strikes {
            Some(strikes) if strikes.check().is_err() => Admit::Flood,
            _ => Admit::Refused(wait),
        }
    }
}

fn limiter(rate: u32, burst: u32) -> Option<Limiter> {
    let rate = NonZeroU32::new(rate)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    let quota = Quota::per_second(rate).allow_burst(burst);
    Some(Limiter::direct_with_clock(quota, MonotonicClock))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(rate: u32, burst: u32, strikes: u32) -> Rates {
        Rates::new(
            &Config::default()
                .message_rate(rate)
                .message_burst(burst)
                .join_rate(rate)
                .join_burst(burst)
                .typing_rate(rate)
                .typing_burst(burst)
                .flood_strikes(strikes),
        )
    }

    #[test]
    fn a_burst_passes_then_the_rate_refuses_with_a_wait() {
        let rates = rates(1, 3, 100);
        for _ in 0..3 {
            assert_eq!(rates.admit(Kind::Message), Admit::Allowed);
        }
        let Admit::Refused(wait) = rates.admit(Kind::Message) else {
            panic!("the fourth message should be refused");
        };
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
    }

    #[test]
    fn each_kind_has_its_own_budget_and_typing_is_dropped() {
        let rates = rates(1, 1, 100);
        assert_eq!(rates.admit(Kind::Message), Admit::Allowed);
        assert_eq!(rates.admit(Kind::Join), Admit::Allowed);
        assert_eq!(rates.admit(Kind::Typing), Admit::Allowed);
        assert!(matches!(rates.admit(Kind::Join), Admit::Refused(_)));
        assert_eq!(rates.admit(Kind::Typing), Admit::Drop);
    }

    #[test]
    fn refusals_past_the_strikes_are_a_flood() {
        let rates = rates(1, 1, 5);
        assert_eq!(rates.admit(Kind::Message), Admit::Allowed);
        for _ in 0..5 {
            assert!(matches!(rates.admit(Kind::Message), Admit::Refused(_)));
        }
        assert_eq!(rates.admit(Kind::Message), Admit::Flood);
    }

    #[test]
    fn dropped_typing_is_no_strike() {
        let rates = rates(1, 1, 1);
        for _ in 0..100 {
            rates.admit(Kind::Typing);
        }
        assert_eq!(rates.admit(Kind::Message), Admit::Allowed);
        assert!(matches!(rates.admit(Kind::Message), Admit::Refused(_)));
    }

    #[test]
    fn text_is_limited_in_bytes_and_a_long_text_always_fits_the_burst() {
        let rates = Rates::new(
            &Config::default()
                .max_text_bytes(8192)
                .text_byte_rate(1000)
                .text_byte_burst(100),
        );
        assert_eq!(
            rates.admit_text(8192),
            Admit::Allowed,
            "the burst grows to the longest text"
        );
        assert!(matches!(rates.admit_text(1000), Admit::Refused(_)));
    }

    #[test]
    fn a_rate_of_zero_is_no_limit() {
        let rates = Rates::new(&Config::default().unlimited_rates());
        for _ in 0..10_000 {
            assert_eq!(rates.admit(Kind::Message), Admit::Allowed);
            assert_eq!(rates.admit(Kind::Join), Admit::Allowed);
            assert_eq!(rates.admit(Kind::Typing), Admit::Allowed);
        }
    }
}
