//! A process's memory and open-file limit, read from `/proc` (Linux only).

use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::{sync::oneshot, task::JoinHandle};

/// Descriptors a process needs besides its connections (stdio, epoll, listener, ...).
const SPARE_FDS: u64 = 64;

/// A process's memory, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Memory {
    /// `VmRSS`: resident now, in KiB.
    pub rss_kib: u64,
    /// `VmHWM`: the most ever resident, in KiB.
    pub hwm_kib: u64,
}

impl Memory {
    /// Reads process `pid`'s memory.
    pub fn read(pid: u32) -> Result<Self> {
        let path = format!("/proc/{pid}/status");
        let status = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {path}: is the server running?"))?;
        let field = |name: &str| -> Result<u64> {
            let line = status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .with_context(|| format!("no {name} in {path}"))?;
            let kib = line.trim().trim_end_matches("kB").trim();
            kib.parse()
                .with_context(|| format!("bad {name} value {line:?}"))
        };
        Ok(Self {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
        })
    }
}

impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "VmRSS {:.1} MiB, VmHWM {:.1} MiB",
            self.rss_kib as f64 / 1024.0,
            self.hwm_kib as f64 / 1024.0
        )
    }
}

/// Raises this process's open-file soft limit to its hard limit, as `tether-server` does for
/// itself; the servers the suite starts inherit it. Above the hard limit only the shell's
/// `ulimit -Hn` (or root) helps, which [`check_fd_limit`] says.
pub fn raise_fd_limit() -> Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).context("reading the open-file limit")?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).context("raising the open-file limit")?;
    }
    Ok(hard)
}

/// Fails with a hint when the open-file soft limit of process `pid` (or `"self"`) is too low for
/// `connections` connections.
pub fn check_fd_limit(pid: &str, who: &str, connections: usize) -> Result<()> {
    let path = format!("/proc/{pid}/limits");
    let limits = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .with_context(|| format!("no open-file limit in {path}"))?;
    let mut fields = line["Max open files".len()..].split_whitespace();
    let soft = fields.next().context("no soft limit")?;
    let hard = fields.next().context("no hard limit")?;
    if soft == "unlimited" {
        return Ok(());
    }
    let soft: u64 = soft
        .parse()
        .with_context(|| format!("bad limit {soft:?}"))?;
    let needed = connections as u64 + SPARE_FDS;
    if soft >= needed {
        return Ok(());
    }
    match hard.parse::<u64>() {
        Ok(hard) if hard < needed => bail!(
            "{who} may open {soft} files but needs about {needed}, more than its hard limit \
             ({hard}): use fewer connections"
        ),
        _ => bail!(
            "{who} may open {soft} files but needs about {needed}: run `ulimit -n {hard}` (the \
             hard limit) in its shell before starting it"
        ),
    }
}

/// Samples a process's `VmRSS` on a fixed period in a task of its own and keeps the largest
/// reading: the peak during an attack, which `VmHWM` gives only since the process started.
#[derive(Debug)]
#[must_use = "the sampler runs until `finish` is called or it is dropped"]
pub struct RssWatch {
    pid: u32,
    peak_kib: Arc<AtomicU64>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<u64>>,
}

impl RssWatch {
    /// Starts sampling process `pid` every `period` (the first sample at once).
    pub fn start(pid: u32, period: Duration) -> Result<Self> {
        let first = Memory::read(pid)?.rss_kib;
        let peak_kib = Arc::new(AtomicU64::new(first));
        let (stop, mut stopped) = oneshot::channel();
        let peak = Arc::clone(&peak_kib);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut samples = 0;
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = ticks.tick() => {
                        let rss = Memory::read(pid)?.rss_kib;
                        peak.fetch_max(rss, Ordering::Relaxed);
                        samples += 1;
                    }
                }
            }
            Ok(samples)
        });
        Ok(Self {
            pid,
            peak_kib,
            stop: Some(stop),
            task,
        })
    }

    /// The largest `VmRSS` seen so far, in KiB.
    pub fn peak_kib(&self) -> u64 {
        self.peak_kib.load(Ordering::Relaxed)
    }

    /// Takes one last sample, stops, and returns the peak in KiB. Fails if a sample could not be
    /// read (the process exited).
    pub async fn finish(mut self) -> Result<u64> {
        if let Ok(memory) = Memory::read(self.pid) {
            self.peak_kib.fetch_max(memory.rss_kib, Ordering::Relaxed);
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task)
            .await
            .context("the RSS sampler panicked")??;
        Ok(self.peak_kib())
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let memory = Memory::read(std::process::id()).expect("own /proc entry");
        assert!(memory.rss_kib > 0);
        assert!(memory.hwm_kib >= memory.rss_kib);
    }

    #[tokio::test]
    async fn the_watch_keeps_the_largest_sample() {
        let watch = RssWatch::start(std::process::id(), Duration::from_millis(5)).expect("start");
        // Touch 32 MiB so that the resident set grows while the watch samples it.
        let block = vec![1u8; 32 << 20];
        tokio::time::sleep(Duration::from_millis(30)).await;
        std::hint::black_box(&block);
        drop(block);
        let peak = watch.finish().await.expect("finish");
        assert!(peak >= 32 << 10, "peak {peak} KiB");
    }

    #[test]
    fn a_limit_far_above_any_hard_limit_is_refused() {
        let err = check_fd_limit("self", "the test", usize::MAX / 2).expect_err("too many");
        assert!(err.to_string().contains("files"), "{err}");
    }
}
