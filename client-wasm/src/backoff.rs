//! When to reconnect: exponential backoff with jitter, and when to give up.

use core::time::Duration;

/// `x` to the `n`th power: `f64::powi` is std's, and the npm build is `no_std`.
fn powi(x: f64, n: u32) -> f64 {
    (0..n).fold(1.0, |acc, _| acc * x)
}

/// Reconnect timing. Defaults are the guide's: 1 s, ×1.5 per attempt, at most 30 s, jitter
/// 0.5–1.5×, 10 attempts, and the attempt counter reset only after a connection stayed open 5 s.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconnectOptions {
    /// Whether to reconnect at all after an unexpected close. Default: true.
    pub enabled: bool,
    /// The delay before the first attempt, before jitter. Default: 1 s.
    pub initial_delay: Duration,
    /// How much each attempt's delay grows. Default: 1.5.
    pub factor: f64,
    /// The longest delay, before jitter. Default: 30 s.
    pub max_delay: Duration,
    /// Jitter as a fraction: the delay is multiplied by a random factor in `1 ± jitter`. Applied
    /// after the cap, so clients that all reached the cap still spread out. Default: 0.5.
    pub jitter: f64,
    /// How many attempts in a row before giving up (`None`: never give up). Default: `Some(10)`.
    /// `Socket::reconnect()` starts over even after giving up.
    pub max_attempts: Option<u32>,
    /// How long a connection must stay open before the attempt counter resets. A server that
    /// accepts and then drops at once keeps backing off instead of being hammered. Default: 5 s.
    pub min_uptime: Duration,
}

impl Default for ReconnectOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            initial_delay: Duration::from_secs(1),
            factor: 1.5,
            max_delay: Duration::from_secs(30),
            jitter: 0.5,
            max_attempts: Some(10),
            min_uptime: Duration::from_secs(5),
        }
    }
}

impl ReconnectOptions {
    /// Sets whether to reconnect at all.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Sets the first delay.
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// Sets the growth factor.
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }

    /// Sets the longest delay before jitter.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Sets the jitter fraction (0 for none; clamped to 0..=1).
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets how many attempts in a row before giving up.
    pub fn max_attempts(mut self, attempts: Option<u32>) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Sets how long a connection must stay open to reset the attempt counter.
    pub fn min_uptime(mut self, uptime: Duration) -> Self {
        self.min_uptime = uptime;
        self
    }

    /// The delay before attempt `attempt` (0 for the first), given `random` uniform in `[0, 1)`.
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let base = self.initial_delay.as_secs_f64() * powi(self.factor, attempt.min(1024));
        let capped = base.min(self.max_delay.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0);
        let spread = 1.0 - jitter + 2.0 * jitter * random.clamp(0.0, 1.0);
        // Nanoseconds by a saturating cast, not `Duration::from_secs_f64`, which panics on
        // overflow and so brings `core::fmt` into the npm package.
        Duration::from_nanos(((capped * spread).max(0.0) * 1e9 + 0.5) as u64)
    }
}

/// How many renewals ([`Backoff::renew`]) in a row go at once.
pub const RENEWALS: u8 = 3;

/// The reconnect state of one socket: which attempt is next, and whether the last connection
/// lived long enough to start over.
#[derive(Debug, Clone)]
pub struct Backoff {
    options: ReconnectOptions,
    attempt: u32,
    // Renewals since the count last started over.
    renewals: u8,
    // When the current connection opened (wall-clock milliseconds), if it is open.
    opened_at: Option<f64>,
}

impl Backoff {
    /// A fresh state: the next attempt is the first.
    pub fn new(options: ReconnectOptions) -> Self {
        Self {
            options,
            attempt: 0,
            renewals: 0,
            opened_at: None,
        }
    }

    /// The options.
    pub fn options(&self) -> &ReconnectOptions {
        &self.options
    }

    /// Attempts made since the counter last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// A connection opened at `now` (milliseconds).
    pub fn opened(&mut self, now: f64) {
        self.opened_at = Some(now);
    }

    /// The connection closed at `now`: resets the counters if it stayed open long enough.
    pub fn closed(&mut self, now: f64) {
        if let Some(opened) = self.opened_at.take()
            && now - opened >= self.options.min_uptime.as_secs_f64() * 1000.0
        {
            self.reset();
        }
    }

    /// Starts over, as after the user asked to reconnect.
    pub fn reset(&mut self) {
        self.attempt = 0;
        self.renewals = 0;
    }

    /// Whether a reconnect for fresh credentials (the token expired) may go at once, with no
    /// delay: yes for the first [`RENEWALS`] since the counters last started over (a connection
    /// that lived `min_uptime`, or [`reset`](Self::reset)); after them, a provider that keeps
    /// handing out expired tokens backs off with [`next`](Self::next) like any other failure.
    /// Never when reconnecting is disabled.
    pub fn renew(&mut self) -> bool {
        let renew = self.options.enabled && self.renewals < RENEWALS;
        if renew {
            self.renewals += 1;
        }
        renew
    }

    /// The next attempt's number (1-based) and delay, or `None` when out of attempts (or
    /// reconnecting is disabled).
    pub fn next(&mut self, random: f64) -> Option<(u32, Duration)> {
        if !self.options.enabled {
            return None;
        }
        if self
            .options
            .max_attempts
            .is_some_and(|max| self.attempt >= max)
        {
            return None;
        }
        let delay = self.options.delay(self.attempt, random);
        self.attempt += 1;
        Some((self.attempt, delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(d: Duration) -> f64 {
        (d.as_secs_f64() * 1000.0).round() / 1000.0
    }

    #[test]
    fn the_guides_sequence_without_jitter() {
        let options = ReconnectOptions::default().jitter(0.0);
        let delays: Vec<f64> = (0..12).map(|n| secs(options.delay(n, 0.7))).collect();
        assert_eq!(
            delays,
            [
                1.0, 1.5, 2.25, 3.375, 5.063, 7.594, 11.391, 17.086, 25.629, 30.0, 30.0, 30.0
            ]
        );
    }

    #[test]
    fn jitter_spreads_half_to_one_and_a_half_times_even_at_the_cap() {
        let options = ReconnectOptions::default();
        assert_eq!(secs(options.delay(0, 0.0)), 0.5);
        assert_eq!(secs(options.delay(0, 0.5)), 1.0);
        assert!(secs(options.delay(0, 0.999_999)) <= 1.5);
        // At the cap the spread is kept, not collapsed to the cap.
        assert_eq!(secs(options.delay(20, 0.0)), 15.0);
        assert_eq!(secs(options.delay(20, 0.999_999)), 45.0);
        for i in 0..=100 {
            let d = options.delay(3, f64::from(i) / 100.0).as_secs_f64();
            assert!((3.375 * 0.5..=3.375 * 1.5).contains(&d), "{d}");
        }
    }

    #[test]
    fn gives_up_after_max_attempts_and_reset_starts_over() {
        let mut backoff = Backoff::new(ReconnectOptions::default().max_attempts(Some(3)));
        let attempts: Vec<u32> = std::iter::from_fn(|| backoff.next(0.5).map(|(n, _)| n)).collect();
        assert_eq!(attempts, [1, 2, 3]);
        assert_eq!(backoff.next(0.5), None);
        backoff.reset();
        assert_eq!(backoff.next(0.5).map(|(n, _)| n), Some(1));
    }

    #[test]
    fn counter_resets_only_after_minimum_uptime() {
        let mut backoff = Backoff::new(ReconnectOptions::default());
        backoff.next(0.5);
        backoff.next(0.5);
        // Open for 4.9 s: the server accepted and dropped us; keep backing off.
        backoff.opened(10_000.0);
        backoff.closed(14_900.0);
        assert_eq!(backoff.attempts(), 2);
        assert_eq!(backoff.next(0.5).map(|(n, _)| n), Some(3));
        // Open for 5 s: a healthy connection; start over.
        backoff.opened(20_000.0);
        backoff.closed(25_000.0);
        assert_eq!(backoff.attempts(), 0);
        assert_eq!(secs(backoff.next(0.5).map(|(_, d)| d).unwrap()), 1.0);
    }

    #[test]
    fn renewals_go_at_once_a_few_times_until_a_connection_lives() {
        let mut backoff = Backoff::new(ReconnectOptions::default());
        let quick: Vec<bool> = (0..5).map(|_| backoff.renew()).collect();
        assert_eq!(quick, [true, true, true, false, false]);
        assert_eq!(backoff.attempts(), 0, "a renewal is no attempt");
        // Open for 4.9 s: not long enough to start over.
        backoff.opened(0.0);
        backoff.closed(4_900.0);
        assert!(!backoff.renew());
        backoff.opened(10_000.0);
        backoff.closed(15_000.0);
        assert!(backoff.renew(), "a connection that lived starts over");
        backoff.reset();
        assert_eq!((0..4).filter(|_| backoff.renew()).count(), 3);
        let mut off = Backoff::new(ReconnectOptions::default().enabled(false));
        assert!(!off.renew());
    }

    #[test]
    fn disabled_never_reconnects_and_unlimited_never_gives_up() {
        let mut off = Backoff::new(ReconnectOptions::default().enabled(false));
        assert_eq!(off.next(0.5), None);
        let mut forever = Backoff::new(ReconnectOptions::default().max_attempts(None));
        for _ in 0..1000 {
            assert!(forever.next(0.5).is_some());
        }
    }
}
