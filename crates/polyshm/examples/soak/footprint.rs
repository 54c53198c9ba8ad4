//! What the soak watches besides results: the master's resident memory and the
//! shared-memory segments of the run; and the percentiles of its timings.

use std::collections::HashSet;
use std::time::Duration;

/// Resident memory of this process in KiB (Linux: VmRSS of /proc/self/status).
pub fn rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `k` KiB in MiB, or `n/a`.
pub fn show_kib(k: Option<u64>) -> String {
    k.map_or("n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

/// Segments of this run: made by this process or one of its drones.
pub fn our_segments(pids: &HashSet<u32>) -> Option<Vec<String>> {
    let list = polyshm::shm::admin::list().ok()?;
    Some(
        list.into_iter()
            .filter(|s| {
                s.owner.is_some_and(|o| pids.contains(&o.pid)) || {
                    // A segment whose header could not be read: count it if its name
                    // carries one of our pids (unique_name puts the pid in hex).
                    s.owner.is_none() && pids.iter().any(|p| s.name.contains(&format!("-{p:x}-")))
                }
            })
            .map(|s| s.name)
            .collect(),
    )
}

/// How many polyshm segments the machine holds, whoever made them.
pub fn all_segments() -> Option<usize> {
    polyshm::shm::admin::list().ok().map(|l| l.len())
}

/// The `p` quantile of `sorted` (0 when empty).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
