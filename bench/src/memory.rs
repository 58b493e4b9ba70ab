//! A process's memory and open-file limit, read from `/proc` (Linux only).

use anyhow::{Context, Result, bail};
use serde::Serialize;

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

/// Fails with a hint when the open-file soft limit of process `pid` (or `"self"`) is too low for
/// `connections` connections. The workspace forbids `unsafe`, so the generator cannot raise its
/// own limit: `scripts/bench.sh` raises it in the shell.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let memory = Memory::read(std::process::id()).expect("own /proc entry");
        assert!(memory.rss_kib > 0);
        assert!(memory.hwm_kib >= memory.rss_kib);
    }

    #[test]
    fn a_limit_far_above_any_hard_limit_is_refused() {
        let err = check_fd_limit("self", "the test", usize::MAX / 2).expect_err("too many");
        assert!(err.to_string().contains("files"), "{err}");
    }
}
