//! Tether's counters and gauges, read from its `/metrics` over loopback.

use anyhow::{Context, Result, bail, ensure};
use serde::Serialize;
use std::{collections::BTreeMap, net::SocketAddr, time::Duration};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};

/// How long one scrape may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest `/metrics` answer read (Tether's is about 2 KB).
const MAX_ANSWER: usize = 1 << 20;

/// One reading of a Tether server's `/metrics`: every `tether_*` sample by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ServerMetrics {
    values: BTreeMap<String, f64>,
}

impl ServerMetrics {
    /// Reads `/metrics` from the server at `addr` with a fresh connection (from 127.0.0.1, or
    /// `::1`, so keep attacks on other source addresses if their connections are to be refused).
    pub async fn scrape(addr: SocketAddr) -> Result<Self> {
        let answer = timeout(SCRAPE_TIMEOUT, async {
            let mut stream = TcpStream::connect(addr).await?;
            let request =
                format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await?;
            let mut answer = Vec::new();
            (&mut stream)
                .take(MAX_ANSWER as u64)
                .read_to_end(&mut answer)
                .await?;
            std::io::Result::Ok(answer)
        })
        .await
        .with_context(|| format!("{addr}/metrics did not answer within {SCRAPE_TIMEOUT:?}"))?
        .with_context(|| format!("reading {addr}/metrics"))?;
        let answer = String::from_utf8_lossy(&answer);
        let Some((head, body)) = answer.split_once("\r\n\r\n") else {
            bail!("{addr}/metrics: no complete answer");
        };
        let status = head.split_whitespace().nth(1).unwrap_or("none");
        ensure!(status == "200", "{addr}/metrics answered {status}");
        Ok(Self::parse(body))
    }

    /// The samples of a Prometheus or OpenMetrics text: `name value` lines whose name starts with
    /// `tether_`; comments, labelled samples and anything else are skipped.
    pub fn parse(text: &str) -> Self {
        let values = text
            .lines()
            .filter(|line| line.starts_with("tether_"))
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let name = fields.next()?;
                let value = fields.next()?.parse().ok()?;
                (!name.contains('{')).then(|| (name.to_owned(), value))
            })
            .collect();
        Self { values }
    }

    /// The value of `name`, 0 when the server does not report it.
    pub fn get(&self, name: &str) -> f64 {
        self.values.get(name).copied().unwrap_or(0.0)
    }

    /// The counters that grew from `before` to `self`, by how much; gauges as they are now.
    pub fn since(&self, before: &Self) -> Self {
        let values = self
            .values
            .iter()
            .filter_map(|(name, &now)| {
                let value = if name.ends_with("_total") {
                    now - before.get(name)
                } else {
                    now
                };
                (value != 0.0).then(|| (name.clone(), value))
            })
            .collect();
        Self { values }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP tether_flood_closes Connections closed.\n\
                        # TYPE tether_flood_closes counter\n\
                        tether_flood_closes_total 2\n\
                        tether_tcp_connections 1\n\
                        tether_labelled{kind=\"a\"} 5\n\
                        process_cpu 3\n\
                        # EOF\n";

    #[test]
    fn reads_unlabelled_tether_samples() {
        let metrics = ServerMetrics::parse(TEXT);
        assert_eq!(metrics.get("tether_flood_closes_total"), 2.0);
        assert_eq!(metrics.get("tether_tcp_connections"), 1.0);
        assert_eq!(metrics.get("tether_labelled"), 0.0);
        assert_eq!(metrics.get("process_cpu"), 0.0);
        assert_eq!(metrics.values.len(), 2);
    }

    #[test]
    fn counters_are_differenced_and_gauges_kept() {
        let before = ServerMetrics::parse("tether_a_total 3\ntether_b_total 4\ntether_open 9\n");
        let after = ServerMetrics::parse("tether_a_total 10\ntether_b_total 4\ntether_open 2\n");
        let grown = after.since(&before);
        assert_eq!(grown.get("tether_a_total"), 7.0);
        assert_eq!(grown.get("tether_open"), 2.0);
        assert!(!grown.values.contains_key("tether_b_total"), "{grown:?}");
    }
}
