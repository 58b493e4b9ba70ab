//! End-to-end latency, collected in an HDR histogram shared by every receiving connection.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::{
    sync::{Arc, LazyLock, Mutex},
    time::{Duration, Instant},
};

/// The generator's clock: message timestamps are microseconds since this instant, so sender and
/// receiver (both in this process) compare readings of one monotonic clock.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Microseconds since the generator's epoch, as written into messages.
pub fn now_micros() -> u64 {
    EPOCH.elapsed().as_micros() as u64
}

/// How many samples a connection collects before taking the shared lock once for all of them.
const LOCAL_BATCH: usize = 256;

/// The highest latency the histogram tracks exactly: a minute, in microseconds. Longer samples
/// are clamped (and still counted).
const MAX_MICROS: u64 = 60_000_000;

/// A shared latency histogram (1 µs to 60 s, 3 significant digits).
///
/// One histogram per connection would cost about 100 KB each, so connections buffer samples in a
/// [`LocalLatency`] and merge them under the lock in batches.
#[derive(Debug, Clone)]
pub struct LatencyRecorder {
    histogram: Arc<Mutex<Histogram<u64>>>,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        let histogram =
            Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("constant bounds are valid");
        Self {
            histogram: Arc::new(Mutex::new(histogram)),
        }
    }

    /// A per-connection buffer that feeds this recorder.
    pub fn local(&self) -> LocalLatency {
        LocalLatency {
            recorder: self.clone(),
            samples: Vec::with_capacity(LOCAL_BATCH),
        }
    }

    /// The percentiles of everything recorded so far (flush the locals first).
    pub fn summary(&self) -> LatencySummary {
        let histogram = self.lock();
        let ms = |micros: u64| micros as f64 / 1000.0;
        LatencySummary {
            samples: histogram.len(),
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p90_ms: ms(histogram.value_at_quantile(0.90)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            max_ms: ms(histogram.max()),
        }
    }

    fn merge(&self, samples: &[u64]) {
        let mut histogram = self.lock();
        for &micros in samples {
            histogram.saturating_record(micros.clamp(1, MAX_MICROS));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Histogram<u64>> {
        // Recording cannot leave the histogram half-updated in a way that matters here.
        self.histogram.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A connection's unmerged samples; merged when the batch is full and on drop.
#[derive(Debug)]
pub struct LocalLatency {
    recorder: LatencyRecorder,
    samples: Vec<u64>,
}

impl LocalLatency {
    /// Records one latency in microseconds.
    pub fn record(&mut self, micros: u64) {
        self.samples.push(micros);
        if self.samples.len() == LOCAL_BATCH {
            self.flush();
        }
    }

    /// Merges what is buffered into the shared histogram.
    pub fn flush(&mut self) {
        self.recorder.merge(&self.samples);
        self.samples.clear();
    }
}

impl Drop for LocalLatency {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// How many latencies were recorded.
    pub samples: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// The largest.
    pub max_ms: f64,
}

/// The nearest-rank percentile `p` (0..=100) of sorted, non-empty `values`, for the small
/// per-client samples of the storms.
pub fn percentile(values: &[Duration], p: usize) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    let rank = (values.len() * p).div_ceil(100).max(1);
    values[rank.min(values.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locals_merge_on_flush_and_on_drop() {
        let recorder = LatencyRecorder::new();
        let mut a = recorder.local();
        let mut b = recorder.local();
        for micros in 1..=1000 {
            a.record(micros);
        }
        b.record(5_000);
        drop(a);
        drop(b);
        let summary = recorder.summary();
        assert_eq!(summary.samples, 1001);
        assert!((summary.p50_ms - 0.5).abs() < 0.01, "{summary:?}");
        assert!((summary.max_ms - 5.0).abs() < 0.01, "{summary:?}");
    }

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&values, 50), Duration::from_millis(50));
        assert_eq!(percentile(&values, 99), Duration::from_millis(99));
        assert_eq!(percentile(&values, 100), Duration::from_millis(100));
        assert_eq!(percentile(&[], 50), Duration::ZERO);
    }
}
