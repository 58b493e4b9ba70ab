//! Counters and gauges, served on `/metrics` in the Prometheus text format.

use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, gauge::Gauge},
    registry::Registry,
};

/// The server's metrics. Cloning a metric clones a handle to the same atomic value.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Open WebSocket connections.
    pub connections: Gauge,
    /// WebSocket connections accepted since start.
    pub connections_accepted: Counter,
    /// Rooms that exist (set when scraped).
    pub rooms: Gauge,
    /// Messages received from clients.
    pub messages_in: Counter,
    /// Messages queued for clients.
    pub messages_out: Counter,
    /// Typing notices dropped for clients that were falling behind.
    pub dropped: Counter,
    /// Clients closed with 1013 because they could not keep up.
    pub slow_consumer_closes: Counter,
    /// Client messages refused with an `error` or a failed `ack`.
    pub refused: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tether");
        let metrics = Self {
            connections: Gauge::default(),
            connections_accepted: Counter::default(),
            rooms: Gauge::default(),
            messages_in: Counter::default(),
            messages_out: Counter::default(),
            dropped: Counter::default(),
            slow_consumer_closes: Counter::default(),
            refused: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "connections",
            "Open WebSocket connections",
            metrics.connections.clone(),
        );
        registry.register(
            "connections_accepted",
            "WebSocket connections accepted since start",
            metrics.connections_accepted.clone(),
        );
        registry.register("rooms", "Rooms that exist", metrics.rooms.clone());
        registry.register(
            "messages_in",
            "Messages received from clients",
            metrics.messages_in.clone(),
        );
        registry.register(
            "messages_out",
            "Messages queued for clients",
            metrics.messages_out.clone(),
        );
        registry.register(
            "messages_dropped",
            "Typing notices dropped for clients falling behind",
            metrics.dropped.clone(),
        );
        registry.register(
            "slow_consumer_closes",
            "Clients closed with 1013 because they could not keep up",
            metrics.slow_consumer_closes.clone(),
        );
        registry.register(
            "messages_refused",
            "Client messages refused with an error or a failed ack",
            metrics.refused.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }
}

impl Metrics {
    /// The metrics in the Prometheus (OpenMetrics) text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        encode(&mut out, &self.registry).expect("writing to a String never fails");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric() {
        let metrics = Metrics::default();
        metrics.messages_in.inc_by(3);
        metrics.connections.set(2);
        let text = metrics.render();
        for line in [
            "tether_connections 2",
            "tether_connections_accepted_total 0",
            "tether_rooms 0",
            "tether_messages_in_total 3",
            "tether_messages_out_total 0",
            "tether_messages_dropped_total 0",
            "tether_slow_consumer_closes_total 0",
            "tether_messages_refused_total 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
    }
}
