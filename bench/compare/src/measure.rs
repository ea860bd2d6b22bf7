//! What a run measures of its own process: CPU time, resident memory, latency percentiles.

use std::time::Duration;

/// `/proc/<pid>/stat` counts CPU time in clock ticks; `getconf CLK_TCK` is 100 on Linux.
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// User + system CPU seconds of a process (all its threads), from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // Field 2 (the command) is in parentheses and may hold spaces: count from after it.
    let Some(close) = stat.rfind(')') else {
        return f64::NAN;
    };
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (tick(11) + tick(12)) as f64 / CLOCK_TICKS_PER_SEC
}

/// Read-like plus write-like system calls a process (all its threads) has made so far, from
/// the `syscr` and `syscw` lines of `/proc/<pid>/io` (0 when unreadable). Per operation,
/// it shows how well a client's requests and the server's answers share system calls.
pub fn io_syscalls(pid: &str) -> u64 {
    let Ok(io) = std::fs::read_to_string(format!("/proc/{pid}/io")) else {
        return 0;
    };
    io.lines()
        .filter_map(|l| {
            l.strip_prefix("syscr:")
                .or_else(|| l.strip_prefix("syscw:"))
        })
        .filter_map(|v| v.trim().parse::<u64>().ok())
        .sum()
}

/// This process's resident set, in KiB.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Nearest-rank percentile `p` (0..=100) of ascending durations, in milliseconds.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e3
}

/// The median of some figures (NaN when there are none).
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}
