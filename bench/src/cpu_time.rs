//! The CPU time a process has used, from `/proc/PID/stat` (Linux only).

use anyhow::{Context, Result};
use nix::unistd::{SysconfVar, sysconf};
use std::time::Duration;

/// The user and system CPU time process `pid` (or `"self"`) has used so far, all its threads
/// together, to the kernel's clock tick (10 ms on most systems).
pub fn cpu_time(pid: &str) -> Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {path}: is the process running?"))?;
    parse_stat(&stat, ticks_per_second()?).with_context(|| format!("reading {path}"))
}

fn ticks_per_second() -> Result<u64> {
    let ticks = sysconf(SysconfVar::CLK_TCK)
        .context("asking for the clock tick")?
        .context("the system has no clock tick")?;
    u64::try_from(ticks)
        .ok()
        .filter(|&t| t > 0)
        .context("a clock tick of 0")
}

/// `utime` + `stime` from the text of a `stat` file, in `ticks` per second. The process name
/// (field 2) may hold spaces and parentheses, so the fields are counted from its closing one.
fn parse_stat(stat: &str, ticks: u64) -> Result<Duration> {
    let (_, rest) = stat.rsplit_once(')').context("no process name")?;
    // After the name: field 3 (state) onwards; utime and stime are fields 14 and 15.
    let mut fields = rest.split_whitespace().skip(11);
    let mut field = |name: &str| -> Result<u64> {
        fields
            .next()
            .with_context(|| format!("no {name}"))?
            .parse()
            .with_context(|| format!("a bad {name}"))
    };
    let used = field("utime")? + field("stime")?;
    Ok(Duration::from_secs(used / ticks)
        + Duration::from_nanos(used % ticks * 1_000_000_000 / ticks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_and_system_time_past_an_awkward_name() {
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    250 130 0 0 20 0 3 0 987 12345678 900 18446744073709551615";
        assert_eq!(parse_stat(stat, 100).unwrap(), Duration::from_millis(3800));
    }

    #[test]
    fn refuses_what_is_not_a_stat_file() {
        assert!(parse_stat("4242 tokio S 1", 100).is_err());
        assert!(parse_stat("4242 (tokio) S 1 2", 100).is_err());
    }

    #[test]
    fn grows_while_this_process_works() {
        let before = cpu_time("self").unwrap();
        let give_up = std::time::Instant::now() + Duration::from_secs(5);
        let mut x = 0u64;
        while cpu_time("self").unwrap() <= before {
            assert!(
                std::time::Instant::now() < give_up,
                "no CPU time counted in 5 s of work"
            );
            for i in 0..100_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
        }
    }
}
