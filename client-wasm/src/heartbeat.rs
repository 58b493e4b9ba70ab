//! Deciding, from wall-clock time, when to ping and when a silent connection is dead.

use crate::prelude::*;
use alloc::rc::Rc;
use core::{fmt, time::Duration};

/// Heartbeat settings. Defaults are the guide's: a ping every 25 s, dead if nothing arrives within
/// 10 s of it. The ping is the server's app-level `{"type":"ping"}`, and its answer `{"type":"pong"}`;
/// any message at all also proves the connection alive.
#[derive(Clone)]
pub struct HeartbeatOptions {
    /// How long the connection may be quiet before the client pings. Default: 25 s.
    pub interval: Duration,
    /// How long to wait for any message after a ping. Default: 10 s.
    pub timeout: Duration,
    /// The text sent as a ping. Default: `{"type":"ping"}`.
    pub ping: String,
    /// Recognises the answer to a ping, which is then not delivered as a message. Default: the text
    /// is `{"type":"pong"}` or the guide's bare `pong`.
    pub is_pong: Rc<dyn Fn(&str) -> bool>,
}

impl fmt::Debug for HeartbeatOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeartbeatOptions")
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field("ping", &self.ping)
            .finish_non_exhaustive()
    }
}

impl HeartbeatOptions {
    /// The default [`interval`](Self::interval): 25 s.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(25);
    /// The default [`timeout`](Self::timeout): 10 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
}

impl Default for HeartbeatOptions {
    fn default() -> Self {
        Self {
            interval: Self::DEFAULT_INTERVAL,
            timeout: Self::DEFAULT_TIMEOUT,
            ping: r#"{"type":"ping"}"#.to_owned(),
            is_pong: Rc::new(|text| text == r#"{"type":"pong"}"# || text == "pong"),
        }
    }
}

impl HeartbeatOptions {
    /// Sets how long the connection may be quiet before a ping.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets how long to wait for an answer.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the ping text and the test for its answer (for servers with another heartbeat, such
    /// as the guide's bare `ping`/`pong`).
    pub fn ping(
        mut self,
        ping: impl Into<String>,
        is_pong: impl Fn(&str) -> bool + 'static,
    ) -> Self {
        self.ping = ping.into();
        self.is_pong = Rc::new(is_pong);
        self
    }
}

/// What the heartbeat wants done now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// Nothing until [`Heartbeat::next_deadline`].
    Wait,
    /// Send a ping now.
    Ping,
    /// No sign of life since the ping: the connection is dead.
    Dead,
}

/// The heartbeat of one open connection, driven by wall-clock time.
///
/// Browsers throttle timers in background tabs and laptops sleep with sockets that still say
/// OPEN, so timers only say *when to look*; what to do is decided here from the clock, which
/// keeps counting through both.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    interval: f64,
    timeout: f64,
    last_seen: f64,
    ping_sent: Option<f64>,
}

impl Heartbeat {
    /// A heartbeat for a connection that opened at `now` (milliseconds).
    pub fn new(options: &HeartbeatOptions, now: f64) -> Self {
        Self::with_timing(options.interval, options.timeout, now)
    }

    /// A heartbeat with this interval and timeout, for a connection that opened at `now`
    /// (milliseconds): what [`new`](Self::new) reads of [`HeartbeatOptions`].
    pub fn with_timing(interval: Duration, timeout: Duration, now: f64) -> Self {
        Self {
            interval: interval.as_secs_f64() * 1000.0,
            timeout: timeout.as_secs_f64() * 1000.0,
            last_seen: now,
            ping_sent: None,
        }
    }

    /// Something arrived at `now`: the connection is alive.
    pub fn received(&mut self, now: f64) {
        self.last_seen = now;
        self.ping_sent = None;
    }

    /// Asks for a ping at once (the tab became visible, the network came back, the page was
    /// restored): after a sleep, the socket may say OPEN and be dead.
    pub fn probe(&mut self, now: f64) -> Beat {
        if self.ping_sent.is_some() {
            return self.poll(now);
        }
        self.ping_sent = Some(now);
        Beat::Ping
    }

    /// What to do at `now`.
    pub fn poll(&mut self, now: f64) -> Beat {
        match self.ping_sent {
            Some(sent) if now >= sent + self.timeout => Beat::Dead,
            Some(_) => Beat::Wait,
            // Quiet for a whole interval, or far longer if the tab or machine slept through the
            // timers: whatever the socket says, ask now.
            None if now >= self.last_seen + self.interval => {
                self.ping_sent = Some(now);
                Beat::Ping
            }
            None => Beat::Wait,
        }
    }

    /// When to poll next (milliseconds).
    pub fn next_deadline(&self) -> f64 {
        match self.ping_sent {
            Some(sent) => sent + self.timeout,
            None => self.last_seen + self.interval,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heartbeat(now: f64) -> Heartbeat {
        Heartbeat::new(&HeartbeatOptions::default(), now)
    }

    #[test]
    fn pings_after_a_quiet_interval_and_dies_after_the_timeout() {
        let mut hb = heartbeat(0.0);
        assert_eq!(hb.next_deadline(), 25_000.0);
        assert_eq!(hb.poll(24_999.0), Beat::Wait);
        assert_eq!(hb.poll(25_000.0), Beat::Ping);
        assert_eq!(hb.next_deadline(), 35_000.0);
        assert_eq!(hb.poll(34_999.0), Beat::Wait);
        assert_eq!(hb.poll(35_000.0), Beat::Dead);
    }

    #[test]
    fn any_message_proves_liveness() {
        let mut hb = heartbeat(0.0);
        assert_eq!(hb.poll(25_000.0), Beat::Ping);
        hb.received(30_000.0);
        assert_eq!(hb.poll(35_000.0), Beat::Wait);
        assert_eq!(hb.next_deadline(), 55_000.0);
        // Traffic keeps it from ever pinging.
        for t in (31_000..200_000).step_by(20_000) {
            hb.received(f64::from(t));
            assert_eq!(hb.poll(f64::from(t) + 1.0), Beat::Wait);
        }
    }

    #[test]
    fn a_late_timer_after_sleep_pings_at_once_then_judges_by_the_clock() {
        let mut hb = heartbeat(0.0);
        // The laptop slept for an hour; the first timer fires on wake.
        assert_eq!(hb.poll(3_600_000.0), Beat::Ping);
        assert_eq!(hb.poll(3_605_000.0), Beat::Wait);
        assert_eq!(hb.poll(3_610_000.0), Beat::Dead);
    }

    #[test]
    fn probe_pings_now_once() {
        let mut hb = heartbeat(0.0);
        assert_eq!(hb.probe(1_000.0), Beat::Ping);
        assert_eq!(hb.probe(2_000.0), Beat::Wait);
        assert_eq!(hb.poll(11_000.0), Beat::Dead);
        let mut alive = heartbeat(0.0);
        alive.probe(1_000.0);
        alive.received(1_050.0);
        assert_eq!(alive.poll(11_000.0), Beat::Wait);
    }

    #[test]
    fn default_pong_matcher() {
        let options = HeartbeatOptions::default();
        assert!((options.is_pong)(r#"{"type":"pong"}"#));
        assert!((options.is_pong)("pong"));
        assert!(!(options.is_pong)(r#"{"type":"message"}"#));
        let guide = options.ping("ping", |t| t == "pong");
        assert_eq!(guide.ping, "ping");
        assert!(!(guide.is_pong)(r#"{"type":"pong"}"#));
    }
}
