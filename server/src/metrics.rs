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
    /// Open TCP connections, before and after the upgrade (bounded by `--max-connections`).
    pub tcp_connections: Gauge,
    /// Connections answered with 429: their address held `--max-connections-per-ip`.
    pub refused_per_ip: Counter,
    /// Connections answered with 429: their address opened them faster than
    /// `--address-connect-rate`.
    pub refused_connect_rate: Counter,
    /// Connections answered with 503: the server held `--max-connections`.
    pub refused_full: Counter,
    /// Connections closed for not sending a request head within `--request-head-timeout`.
    pub head_timeouts: Counter,
    /// Requests answered with 431: a head over `--max-request-head-bytes`.
    pub heads_too_large: Counter,
    /// Rooms that exist (set when scraped).
    pub rooms: Gauge,
    /// Messages received from clients.
    pub messages_in: Counter,
    /// WebSocket control frames (pings, pongs) received from clients.
    pub control_frames_in: Counter,
    /// Messages queued for clients.
    pub messages_out: Counter,
    /// Typing notices dropped for clients that were falling behind.
    pub dropped: Counter,
    /// Clients closed with 1013 because they could not keep up.
    pub slow_consumer_closes: Counter,
    /// Client messages refused with an `error` or a failed `ack`.
    pub refused: Counter,
    /// Client messages refused for coming faster than the connection's rate.
    pub rate_limited: Counter,
    /// Typing notices dropped for coming faster than `--typing-rate`.
    pub typing_over_rate: Counter,
    /// Clients closed with 1008 for flooding on after being refused (`--flood-strikes`).
    pub flood_closes: Counter,
    /// `presence` answers cut to `--max-presence-members`.
    pub presence_truncated: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tether");
        let metrics = Self {
            connections: Gauge::default(),
            connections_accepted: Counter::default(),
            tcp_connections: Gauge::default(),
            refused_per_ip: Counter::default(),
            refused_full: Counter::default(),
            refused_connect_rate: Counter::default(),
            head_timeouts: Counter::default(),
            heads_too_large: Counter::default(),
            rooms: Gauge::default(),
            messages_in: Counter::default(),
            control_frames_in: Counter::default(),
            messages_out: Counter::default(),
            dropped: Counter::default(),
            slow_consumer_closes: Counter::default(),
            refused: Counter::default(),
            rate_limited: Counter::default(),
            typing_over_rate: Counter::default(),
            flood_closes: Counter::default(),
            presence_truncated: Counter::default(),
            registry: Registry::default(),
        };
        let gauges = [
            (
                "connections",
                "Open WebSocket connections",
                &metrics.connections,
            ),
            (
                "tcp_connections",
                "Open TCP connections, before and after the upgrade",
                &metrics.tcp_connections,
            ),
            ("rooms", "Rooms that exist", &metrics.rooms),
        ];
        for (name, help, gauge) in gauges {
            registry.register(name, help, gauge.clone());
        }
        let counters = [
            (
                "connections_accepted",
                "WebSocket connections accepted since start",
                &metrics.connections_accepted,
            ),
            (
                "connections_refused_per_ip",
                "Connections answered with 429: their address held the most allowed",
                &metrics.refused_per_ip,
            ),
            (
                "connections_refused_connect_rate",
                "Connections answered with 429: their address opened them too fast",
                &metrics.refused_connect_rate,
            ),
            (
                "connections_refused_full",
                "Connections answered with 503: the server held the most allowed",
                &metrics.refused_full,
            ),
            (
                "request_head_timeouts",
                "Connections closed for not sending a request head in time",
                &metrics.head_timeouts,
            ),
            (
                "request_heads_too_large",
                "Requests answered with 431: a head over the limit",
                &metrics.heads_too_large,
            ),
            (
                "messages_in",
                "Messages received from clients",
                &metrics.messages_in,
            ),
            (
                "control_frames_in",
                "WebSocket pings and pongs received from clients",
                &metrics.control_frames_in,
            ),
            (
                "messages_out",
                "Messages queued for clients",
                &metrics.messages_out,
            ),
            (
                "messages_dropped",
                "Typing notices dropped for clients falling behind",
                &metrics.dropped,
            ),
            (
                "slow_consumer_closes",
                "Clients closed with 1013 because they could not keep up",
                &metrics.slow_consumer_closes,
            ),
            (
                "messages_refused",
                "Client messages refused with an error or a failed ack",
                &metrics.refused,
            ),
            (
                "messages_rate_limited",
                "Client messages refused for coming faster than the connection's rate",
                &metrics.rate_limited,
            ),
            (
                "typing_over_rate",
                "Typing notices dropped for coming faster than the typing rate",
                &metrics.typing_over_rate,
            ),
            (
                "flood_closes",
                "Clients closed with 1008 for flooding on after being refused",
                &metrics.flood_closes,
            ),
            (
                "presence_truncated",
                "Presence answers cut to the most members listed",
                &metrics.presence_truncated,
            ),
        ];
        for (name, help, counter) in counters {
            registry.register(name, help, counter.clone());
        }
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
            "tether_tcp_connections 0",
            "tether_connections_refused_per_ip_total 0",
            "tether_connections_refused_full_total 0",
            "tether_connections_refused_connect_rate_total 0",
            "tether_request_head_timeouts_total 0",
            "tether_request_heads_too_large_total 0",
            "tether_control_frames_in_total 0",
            "tether_messages_rate_limited_total 0",
            "tether_typing_over_rate_total 0",
            "tether_flood_closes_total 0",
            "tether_presence_truncated_total 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
    }
}
