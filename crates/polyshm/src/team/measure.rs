//! Measuring pieces shared by `benches/team.rs` and the profile crate: time many
//! roundtrips of one task on a team, and summarise the samples.

use super::{Team, TeamError};
use std::time::{Duration, Instant};

/// Time `reps` roundtrips of the plain-old-data task `task` with `payload` (after
/// `warmup` untimed ones); answers one duration per roundtrip.
pub fn pod_roundtrips<T: bytemuck::Pod, R: bytemuck::Pod>(
    team: &Team,
    task: &str,
    payload: &[T],
    warmup: usize,
    reps: usize,
) -> Result<Vec<Duration>, TeamError> {
    for _ in 0..warmup {
        team.run_pod::<T, R>(task, payload)?;
    }
    let mut out = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        let r = team.run_pod::<T, R>(task, payload)?;
        out.push(t.elapsed());
        drop(r);
    }
    Ok(out)
}

/// Like [`pod_roundtrips`], but the result is read in place
/// ([`Team::run_pod_with`]) and summed, not copied out.
pub fn pod_roundtrips_in_place<T: bytemuck::Pod>(
    team: &Team,
    task: &str,
    payload: &[T],
    warmup: usize,
    reps: usize,
) -> Result<Vec<Duration>, TeamError> {
    let touch = |r: &[i64]| r.iter().fold(0i64, |a, b| a.wrapping_add(*b));
    for _ in 0..warmup {
        team.run_pod_with::<T, i64, _>(task, payload, touch)?;
    }
    let mut out = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        std::hint::black_box(team.run_pod_with::<T, i64, _>(task, payload, touch)?);
        out.push(t.elapsed());
    }
    Ok(out)
}

/// Time `reps` roundtrips of the empty task (`polyshm.empty`, the study's table 6).
pub fn empty_roundtrips(
    team: &Team,
    warmup: usize,
    reps: usize,
) -> Result<Vec<Duration>, TeamError> {
    for _ in 0..warmup {
        team.run::<(), ()>("polyshm.empty", &())?;
    }
    let mut out = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        team.run::<(), ()>("polyshm.empty", &())?;
        out.push(t.elapsed());
    }
    Ok(out)
}

/// Median and 99th percentile of some samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// How many samples.
    pub n: usize,
    /// The median.
    pub median: Duration,
    /// The 99th percentile (nearest rank).
    pub p99: Duration,
}

/// Summarise samples (`None` for none).
pub fn summarize(samples: &[Duration]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    let mut s = samples.to_vec();
    s.sort_unstable();
    let rank = |q: f64| s[((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
    Some(Summary {
        n: s.len(),
        median: rank(0.5),
        p99: rank(0.99),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_ranks() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        let s = summarize(&v).unwrap();
        assert_eq!(
            (s.n, s.median, s.p99),
            (100, Duration::from_micros(50), Duration::from_micros(99))
        );
        assert!(summarize(&[]).is_none());
    }
}
