//! `Throttle`: lets an action through at most once per interval (leading edge).

use std::time::Duration;

/// Lets an action through at most once per `interval`, on the leading edge: the first call fires
/// at once, calls within the interval after it do not. Used for `typing` notices, so that a user
/// typing a long line sends one notice every couple of seconds rather than one per key.
///
/// Time is passed in (milliseconds since the Unix epoch), so tests drive it with a virtual clock.
///
/// ```
/// use std::time::Duration;
/// use tether_app::throttle::Throttle;
///
/// let mut throttle = Throttle::new(Duration::from_secs(2));
/// assert!(throttle.ready(10_000));
/// assert!(!throttle.ready(11_999));
/// assert!(throttle.ready(12_000));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttle {
    interval: Duration,
    last: Option<u64>,
}

impl Throttle {
    /// A throttle that fires at most once per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
        }
    }

    /// Whether the action may fire at `now_ms`; if so, the interval starts over from `now_ms`.
    pub fn ready(&mut self, now_ms: u64) -> bool {
        let interval = u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX);
        match self.last {
            Some(last) if now_ms < last.saturating_add(interval) => false,
            _ => {
                self.last = Some(now_ms);
                true
            }
        }
    }

    /// Forgets the last firing, so the next call fires at once (after a message is sent, the next
    /// keystroke starts a new typing notice).
    pub fn reset(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_call_fires() {
        assert!(Throttle::new(Duration::from_secs(2)).ready(0));
    }

    #[test]
    fn calls_within_the_interval_are_held_back() {
        let mut throttle = Throttle::new(Duration::from_secs(2));
        assert!(throttle.ready(1_000));
        assert!(!throttle.ready(1_001));
        assert!(!throttle.ready(2_999));
        assert!(throttle.ready(3_000));
        assert!(!throttle.ready(4_000));
    }

    #[test]
    fn one_notice_per_interval_while_typing_steadily() {
        let mut throttle = Throttle::new(Duration::from_secs(2));
        // A keystroke every 100 ms for 10 s.
        let fired = (0..100).filter(|i| throttle.ready(i * 100)).count();
        assert_eq!(fired, 5);
    }

    #[test]
    fn reset_lets_the_next_call_through() {
        let mut throttle = Throttle::new(Duration::from_secs(2));
        assert!(throttle.ready(0));
        throttle.reset();
        assert!(throttle.ready(1));
    }

    #[test]
    fn a_clock_that_went_backwards_does_not_fire_early() {
        let mut throttle = Throttle::new(Duration::from_secs(2));
        assert!(throttle.ready(5_000));
        assert!(!throttle.ready(4_000));
    }
}
