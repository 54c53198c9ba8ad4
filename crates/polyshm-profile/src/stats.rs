//! Measuring: run an operation many times and summarise the samples.
//!
//! Measuring is kept apart from reporting: [`measure`] only produces [`Samples`], and
//! [`Summary`] only turns them into numbers. Nothing here prints or formats.
//!
//! Operations far shorter than the clock's own cost (a raw read of 1,000 bytes takes
//! tens of nanoseconds) are timed in batches: one sample is then the mean of a batch
//! of `batch` back-to-back calls, so that every sample lasts at least
//! [`Budget::min_sample`]. Roundtrips between processes are never batched
//! ([`Budget::roundtrip`]).

use std::time::{Duration, Instant};

/// How long and how often to measure one point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Calls made before timing starts (caches, page faults, branch predictors, the
    /// drone's first wake-up).
    pub warmup: usize,
    /// At least this many samples, however long they take.
    pub min_samples: usize,
    /// At most this many samples.
    pub max_samples: usize,
    /// Stop taking samples once this much time was spent (after `min_samples`).
    pub time: Duration,
    /// Batch short operations so that one sample lasts at least this long; zero
    /// means never batch.
    pub min_sample: Duration,
}

impl Budget {
    /// The full run: a stable median even on a noisy 2-CPU machine.
    pub fn full() -> Budget {
        Budget {
            warmup: 20,
            min_samples: 30,
            max_samples: 100_000,
            time: Duration::from_secs(1),
            min_sample: Duration::from_micros(2),
        }
    }

    /// `--quick`: the same measurement with fewer repetitions.
    pub fn quick() -> Budget {
        Budget {
            warmup: 5,
            min_samples: 10,
            max_samples: 2_000,
            time: Duration::from_millis(40),
            min_sample: Duration::from_micros(2),
        }
    }

    /// The same budget without batching: every sample is one call (roundtrips).
    pub fn roundtrip(self) -> Budget {
        Budget {
            min_sample: Duration::ZERO,
            ..self
        }
    }
}

/// The timed samples of one point, each the duration of one call (or the mean of one
/// batch of `batch` calls).
#[derive(Clone, Debug, PartialEq)]
pub struct Samples {
    /// One entry per sample.
    pub durations: Vec<Duration>,
    /// Calls per sample (1 unless the operation was batched).
    pub batch: usize,
}

/// Time `op` as `budget` says: warm up, choose a batch size, then take samples until
/// the time budget is spent (at least `min_samples`, at most `max_samples`).
///
/// The first error `op` returns stops the measurement and is returned.
pub fn measure<E>(budget: &Budget, mut op: impl FnMut() -> Result<(), E>) -> Result<Samples, E> {
    let mut slowest_warm = Duration::ZERO;
    let mut fastest_warm = Duration::MAX;
    for _ in 0..budget.warmup.max(1) {
        let t = Instant::now();
        op()?;
        let d = t.elapsed();
        slowest_warm = slowest_warm.max(d);
        fastest_warm = fastest_warm.min(d);
    }
    let batch = batch_size(fastest_warm, budget.min_sample);
    let mut durations = Vec::with_capacity(budget.min_samples.max(64));
    let started = Instant::now();
    while durations.len() < budget.max_samples.max(1)
        && (durations.len() < budget.min_samples.max(1) || started.elapsed() < budget.time)
    {
        let t = Instant::now();
        for _ in 0..batch {
            op()?;
        }
        durations.push(t.elapsed() / batch as u32);
    }
    Ok(Samples { durations, batch })
}

/// Take samples from an operation that times itself: `run(n)` performs `n` timed
/// repetitions and answers their durations (the relay probes do so, timing only the
/// roundtrip). The warm-up repetitions are run and dropped; then chunks of at most
/// `chunk` until the budget is spent.
pub fn measure_timed<E>(
    budget: &Budget,
    chunk: usize,
    mut run: impl FnMut(usize) -> Result<Vec<Duration>, E>,
) -> Result<Samples, E> {
    if budget.warmup > 0 {
        run(budget.warmup)?;
    }
    let max = budget.max_samples.max(1);
    let mut durations = Vec::with_capacity(budget.min_samples.max(64));
    let started = Instant::now();
    while durations.len() < max
        && (durations.len() < budget.min_samples.max(1) || started.elapsed() < budget.time)
    {
        let n = chunk.clamp(1, max - durations.len());
        let got = run(n)?;
        if got.is_empty() {
            break;
        }
        durations.extend(got);
    }
    Ok(Samples {
        durations,
        batch: 1,
    })
}

/// Calls per sample so that one sample lasts at least `min_sample`, given that one
/// call took `one` (capped at 10,000 calls).
pub fn batch_size(one: Duration, min_sample: Duration) -> usize {
    if min_sample.is_zero() || one >= min_sample {
        return 1;
    }
    let one_ns = one.as_nanos().max(1);
    let n = min_sample.as_nanos().div_ceil(one_ns);
    n.clamp(1, 10_000) as usize
}

/// Median, 99th percentile, mean, minimum and count of a set of samples, in
/// microseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// The middle sample (the mean of the two middle ones for an even count).
    pub median_us: f64,
    /// The 99th percentile, nearest rank: the smallest sample that at least 99 % of
    /// the samples do not exceed.
    pub p99_us: f64,
    /// The arithmetic mean (the study's statistic, over 10 repetitions).
    pub mean_us: f64,
    /// The fastest sample.
    pub min_us: f64,
    /// How many samples.
    pub count: usize,
}

impl Summary {
    /// Summarise samples given in microseconds; `None` for no samples or a sample that
    /// is not a finite number.
    pub fn from_us(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() || samples.iter().any(|s| !s.is_finite()) {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median_us = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        // Nearest rank: ceil(0.99 n), 1-based.
        let rank = (99 * n).div_ceil(100).max(1);
        Some(Summary {
            median_us,
            p99_us: sorted[rank - 1],
            mean_us: sorted.iter().sum::<f64>() / n as f64,
            min_us: sorted[0],
            count: n,
        })
    }

    /// Summarise measured samples; `None` when there are none.
    pub fn of(samples: &Samples) -> Option<Summary> {
        let us: Vec<f64> = samples
            .durations
            .iter()
            .map(|d| d.as_secs_f64() * 1e6)
            .collect();
        Summary::from_us(&us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_samples() {
        let s = Summary::from_us(&[5.0, 1.0, 3.0, 2.0, 4.0]).unwrap();
        assert_eq!(s.median_us, 3.0);
        assert_eq!(s.mean_us, 3.0);
        assert_eq!(s.min_us, 1.0);
        assert_eq!(s.p99_us, 5.0);
        assert_eq!(s.count, 5);
    }

    #[test]
    fn even_count_median_is_mean_of_middle_pair() {
        let s = Summary::from_us(&[4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!(s.median_us, 2.5);
        assert_eq!(s.mean_us, 2.5);
    }

    #[test]
    fn p99_is_nearest_rank() {
        // 1..=200: the 99th percentile by nearest rank is the 198th value.
        let v: Vec<f64> = (1..=200).map(f64::from).collect();
        let s = Summary::from_us(&v).unwrap();
        assert_eq!(s.p99_us, 198.0);
        assert_eq!(s.median_us, 100.5);
        // 1..=100: rank 99.
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(Summary::from_us(&v).unwrap().p99_us, 99.0);
        // A single sample is every statistic.
        let one = Summary::from_us(&[7.5]).unwrap();
        assert_eq!(
            (
                one.median_us,
                one.p99_us,
                one.mean_us,
                one.min_us,
                one.count
            ),
            (7.5, 7.5, 7.5, 7.5, 1)
        );
    }

    #[test]
    fn no_or_bad_samples_give_none() {
        assert!(Summary::from_us(&[]).is_none());
        assert!(Summary::from_us(&[1.0, f64::NAN]).is_none());
    }

    #[test]
    fn summary_of_durations_is_in_microseconds() {
        let s = Samples {
            durations: vec![Duration::from_micros(10), Duration::from_nanos(30_500)],
            batch: 1,
        };
        let sum = Summary::of(&s).unwrap();
        assert_eq!(sum.min_us, 10.0);
        assert_eq!(sum.median_us, 20.25);
    }

    #[test]
    fn batch_size_reaches_the_minimum_sample() {
        assert_eq!(batch_size(Duration::from_nanos(50), Duration::ZERO), 1);
        assert_eq!(
            batch_size(Duration::from_micros(5), Duration::from_micros(2)),
            1
        );
        assert_eq!(
            batch_size(Duration::from_nanos(50), Duration::from_micros(2)),
            40
        );
        assert_eq!(batch_size(Duration::ZERO, Duration::from_micros(2)), 2_000);
        assert_eq!(batch_size(Duration::ZERO, Duration::from_secs(1)), 10_000);
    }

    #[test]
    fn measure_respects_the_sample_bounds_and_counts_calls() {
        let budget = Budget {
            warmup: 3,
            min_samples: 7,
            max_samples: 7,
            time: Duration::ZERO,
            min_sample: Duration::ZERO,
        };
        let mut calls = 0;
        let s = measure::<()>(&budget, || {
            calls += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(s.durations.len(), 7);
        assert_eq!(s.batch, 1);
        assert_eq!(calls, 3 + 7);
    }

    #[test]
    fn measure_timed_drops_the_warm_up_and_keeps_the_reported_times() {
        let budget = Budget {
            warmup: 4,
            min_samples: 10,
            max_samples: 10,
            time: Duration::ZERO,
            min_sample: Duration::ZERO,
        };
        let mut asked = Vec::new();
        let s = measure_timed::<()>(&budget, 3, |n| {
            asked.push(n);
            Ok((0..n)
                .map(|i| Duration::from_micros(i as u64 + 1))
                .collect())
        })
        .unwrap();
        assert_eq!(asked, vec![4, 3, 3, 3, 1]);
        assert_eq!(s.durations.len(), 10);
        assert_eq!(s.durations[0], Duration::from_micros(1));
        assert_eq!(s.durations[9], Duration::from_micros(1));
    }

    #[test]
    fn measure_stops_at_the_first_error() {
        let budget = Budget::quick().roundtrip();
        let mut calls = 0;
        let r = measure(&budget, || {
            calls += 1;
            if calls == 4 {
                Err("broken")
            } else {
                Ok(())
            }
        });
        assert_eq!(r, Err("broken"));
        assert_eq!(calls, 4);
    }
}
