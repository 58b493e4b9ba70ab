//! How fast one connection may send: its rate limits, and when it is flooding.

use crate::Config;
use governor::{
    Quota, RateLimiter,
    clock::{Clock, MonotonicClock},
    state::{InMemoryState, NotKeyed, keyed::HashMapStateStore},
};
use std::{net::IpAddr, num::NonZeroU32, time::Duration};

/// A GCRA limiter on std's monotonic clock: a few words per limiter, which every connection pays.
type Limiter = RateLimiter<NotKeyed, InMemoryState, MonotonicClock>;

/// A GCRA limiter per IP address, for the budgets all of an address's connections share.
type AddressLimiter = RateLimiter<IpAddr, HashMapStateStore<IpAddr>, MonotonicClock>;

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
/// bursts), and its strikes: every refusal is one, and a connection that collects more than
/// `--flood-strikes` within 10 seconds is flooding.
///
/// The limits live with the session, so each connection has its own and checking one touches
/// nothing shared.
#[derive(Debug)]
pub struct Rates {
    messages: Option<Limiter>,
    joins: Option<Limiter>,
    typing: Option<Limiter>,
    strikes: Option<Limiter>,
}

impl Rates {
    /// The limits `config` sets; a rate of 0 is no limit.
    pub fn new(config: &Config) -> Self {
        let messages = limiter(config.message_rate, config.message_burst);
        let joins = limiter(config.join_rate, config.join_burst);
        let strikes = (messages.is_some()
            || joins.is_some()
            || config.address_message_rate != 0
            || config.address_text_byte_rate != 0)
            .then(|| NonZeroU32::new(config.flood_strikes.max(1)))
            .flatten()
            .and_then(|strikes| {
                let quota = Quota::with_period(STRIKE_WINDOW / strikes.get())?.allow_burst(strikes);
                Some(Limiter::direct_with_clock(quota, MonotonicClock))
            });
        Self {
            messages,
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
    /// A refusal from elsewhere (the address's budget): a strike like any refusal.
    pub fn strike(&self, wait: Duration) -> Admit {
        match &self.strikes {
            Some(strikes) if strikes.check().is_err() => Admit::Flood,
            _ => Admit::Refused(wait),
        }
    }
}

/// The budgets every connection from one IP address shares (`--address-message-rate`,
/// `--address-text-byte-rate`, `--address-connect-rate`): without them, a client that reconnects
/// after each close would get a fresh per-connection burst every time.
#[derive(Debug)]
pub struct AddressRates {
    messages: Option<AddressLimiter>,
    text_bytes: Option<AddressLimiter>,
    connects: Option<AddressLimiter>,
}

impl AddressRates {
    /// The budgets `config` sets; a rate of 0 is no limit.
    pub fn new(config: &Config) -> Self {
        let text_burst = config
            .address_text_byte_burst
            .max(config.max_text_bytes as u32);
        Self {
            messages: address_limiter(config.address_message_rate, config.address_message_burst),
            text_bytes: address_limiter(config.address_text_byte_rate, text_burst),
            connects: address_limiter(config.address_connect_rate, config.address_connect_burst),
        }
    }

    /// Whether `ip` may open another connection now.
    pub fn admit_connection(&self, ip: IpAddr) -> bool {
        self.connects
            .as_ref()
            .is_none_or(|limiter| limiter.check_key(&ip.to_canonical()).is_ok())
    }

    /// How long `ip` must wait before another message (and `text` bytes of chat text), if at
    /// all.
    pub fn admit_message(&self, ip: IpAddr, text: usize) -> Option<Duration> {
        let ip = ip.to_canonical();
        let now = MonotonicClock.now();
        if let Some(limiter) = &self.messages
            && let Err(not_until) = limiter.check_key(&ip)
        {
            return Some(not_until.wait_time_from(now));
        }
        match (&self.text_bytes, NonZeroU32::new(text as u32)) {
            (Some(limiter), Some(n)) => match limiter.check_key_n(&ip, n) {
                Ok(Err(not_until)) => Some(not_until.wait_time_from(now)),
                Ok(Ok(())) | Err(_) => None,
            },
            _ => None,
        }
    }

    /// Forgets the addresses whose budgets are full again: the maps hold only recent senders.
    pub fn forget_idle(&self) {
        for limiter in [&self.messages, &self.text_bytes, &self.connects]
            .into_iter()
            .flatten()
        {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

fn address_limiter(rate: u32, burst: u32) -> Option<AddressLimiter> {
    let rate = NonZeroU32::new(rate)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    let quota = Quota::per_second(rate).allow_burst(burst);
    Some(AddressLimiter::hashmap_with_clock(quota, MonotonicClock))
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
    fn text_is_limited_in_bytes_per_address_and_a_long_text_always_fits_the_burst() {
        let rates = AddressRates::new(
            &Config::default()
                .max_text_bytes(8192)
                .address_text_byte_rate(1000)
                .address_text_byte_burst(100),
        );
        let ip = IpAddr::from([10, 0, 0, 1]);
        assert_eq!(
            rates.admit_message(ip, 8192),
            None,
            "the burst grows to the longest text"
        );
        assert!(rates.admit_message(ip, 1000).is_some());
    }

    #[test]
    fn an_address_shares_its_budget_across_connections() {
        let rates = AddressRates::new(
            &Config::default()
                .address_message_rate(1)
                .address_message_burst(3)
                .address_connect_rate(1)
                .address_connect_burst(2),
        );
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        for _ in 0..3 {
            assert_eq!(rates.admit_message(a, 10), None);
        }
        assert!(rates.admit_message(a, 10).is_some(), "a's budget is spent");
        assert_eq!(rates.admit_message(b, 10), None, "b has its own");
        assert!(rates.admit_connection(a) && rates.admit_connection(a));
        assert!(!rates.admit_connection(a));
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
