//! What a scenario prints while it runs: one line per phase, and one per second while waiting.

use std::{
    fmt::Display,
    time::{Duration, Instant},
};
use tokio::time::{Interval, MissedTickBehavior, interval_at};

/// Progress lines on stderr, prefixed with the scenario and server and the time since start.
/// Results go to stdout and files; stderr shows that a long run is alive.
#[derive(Debug)]
pub struct Progress {
    label: String,
    started: Instant,
    ticks: Interval,
}

impl Progress {
    /// Starts the clock for a scenario run.
    pub fn new(label: impl Into<String>) -> Self {
        let period = Duration::from_secs(1);
        let mut ticks = interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            label: label.into(),
            started: Instant::now(),
            ticks,
        }
    }

    /// Prints one line.
    pub fn say(&self, what: impl Display) {
        eprintln!(
            "  [{}] {:5.1} s  {what}",
            self.label,
            self.started.elapsed().as_secs_f64()
        );
    }

    /// Resolves once a second, for a `select!` arm that reports how far a wait has come.
    pub async fn tick(&mut self) {
        self.ticks.tick().await;
    }
}
