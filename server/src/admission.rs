//! Which TCP connections the server takes: at most so many in all, and so many per IP address.

use prometheus_client::metrics::gauge::Gauge;
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard},
};

/// Counts open connections, in total and per client address, and admits a new one only while
/// both counts are under their limits. A connection is counted from `accept` until its last
/// holder (the HTTP task, then the WebSocket task it upgraded into) drops its [`Ticket`].
///
/// Without this, one address could open connections until the process runs out of file
/// descriptors, and every other client would be refused by the kernel instead of by us.
#[derive(Debug)]
pub struct Admission {
    max_total: usize,
    // 0: no per-address limit.
    max_per_ip: usize,
    // A std mutex: each critical section is one map update.
    counts: Mutex<Counts>,
    // `tether_tcp_connections`: kept here, where the count changes.
    open: Gauge,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    // Only addresses with open connections have an entry, so the map is bounded by `max_total`.
    per_ip: HashMap<IpAddr, usize>,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Its address already holds as many connections as one address may (HTTP 429).
    PerIp,
    /// The server holds as many connections as it may (HTTP 503).
    Full,
}

/// One admitted connection. Dropping it (its last clone) frees its place.
#[derive(Debug)]
pub struct Ticket {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Admission {
    /// Admits at most `max_total` connections, and at most `max_per_ip` from one address
    /// (0: no per-address limit), and shows how many are open in `open`.
    pub fn new(max_total: usize, max_per_ip: usize, open: Gauge) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_ip,
            counts: Mutex::new(Counts::default()),
            open,
        })
    }

    /// Admits a connection from `ip`, or says why not.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Refused> {
        // An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d; count it as a.b.c.d.
        let ip = ip.to_canonical();
        let mut counts = self.lock();
        if counts.total >= self.max_total {
            return Err(Refused::Full);
        }
        let from_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if self.max_per_ip != 0 && from_ip >= self.max_per_ip {
            return Err(Refused::PerIp);
        }
        counts.total += 1;
        counts.per_ip.insert(ip, from_ip + 1);
        self.open.inc();
        Ok(Ticket {
            admission: Arc::clone(self),
            ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().total
    }

    /// The most connections admitted at once.
    pub fn max_total(&self) -> usize {
        self.max_total
    }

    fn release(&self, ip: IpAddr) {
        let mut counts = self.lock();
        counts.total -= 1;
        self.open.dec();
        if let Some(n) = counts.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&ip);
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        // Every update is a pair of counter changes made together; a poisoned lock still holds
        // consistent counts.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission.release(self.ip);
    }
}

/// The default for `--max-connections 0`: the process's open-file limit, less a reserve for the
/// listener, logs, the app's files and the connections being refused (each refusal needs a
/// descriptor to answer with 503).
pub fn default_max_connections() -> usize {
    const RESERVE: u64 = 128;
    let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _hard)| soft);
    limit.saturating_sub(RESERVE).max(1) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn limits_each_address_and_the_total() {
        let admission = Admission::new(3, 2, Gauge::default());
        let a1 = admission.admit(ip(1)).expect("first from a");
        let _a2 = admission.admit(ip(1)).expect("second from a");
        assert_eq!(admission.admit(ip(1)).unwrap_err(), Refused::PerIp);
        let _b1 = admission.admit(ip(2)).expect("first from b");
        assert_eq!(admission.admit(ip(3)).unwrap_err(), Refused::Full);
        drop(a1);
        assert_eq!(admission.open(), 2);
        let _a3 = admission.admit(ip(1)).expect("a's place is free again");
    }

    #[test]
    fn zero_means_no_per_address_limit() {
        let admission = Admission::new(100, 0, Gauge::default());
        let tickets: Vec<_> = (0..100)
            .map(|_| admission.admit(ip(1)).expect("admitted"))
            .collect();
        assert_eq!(admission.admit(ip(1)).unwrap_err(), Refused::Full);
        drop(tickets);
        assert_eq!(admission.open(), 0);
        assert!(
            admission.lock().per_ip.is_empty(),
            "no entry outlives its connections"
        );
    }

    #[test]
    fn mapped_ipv4_counts_as_ipv4() {
        let admission = Admission::new(10, 1, Gauge::default());
        let _v4 = admission.admit(ip(7)).expect("admitted");
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().expect("an address");
        assert_eq!(admission.admit(mapped).unwrap_err(), Refused::PerIp);
    }
}
