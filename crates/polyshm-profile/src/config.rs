//! What one profile run measures: [`Config`].

use crate::placement::PlacementChoice;
use crate::stats::Budget;
use polyshm::team::Signal;
use std::path::PathBuf;

/// The largest size `--quick` measures.
pub const QUICK_MAX_SIZE: u64 = 100_000;

/// The study's sizes: 1, 10, 100, ..., 1,000,000.
pub const DECADES_FROM_1: &[u64] = &[1, 10, 100, 1_000, 10_000, 100_000, 1_000_000];
/// The study's sizes from 10 (tables 4, 7 and 10).
pub const DECADES_FROM_10: &[u64] = &[10, 100, 1_000, 10_000, 100_000, 1_000_000];
/// The study's sizes from 1,000 (table 3).
pub const DECADES_FROM_1000: &[u64] = &[1_000, 10_000, 100_000, 1_000_000];

/// Settings of one `polyshm profile` run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Fewer repetitions and sizes up to [`QUICK_MAX_SIZE`].
    pub quick: bool,
    /// Scenario selectors (family ids, row ids or table numbers); empty runs all.
    pub scenarios: Vec<String>,
    /// Which placements to measure.
    pub placement: PlacementChoice,
    /// Where the report goes.
    pub out: PathBuf,
    /// The program to start as drone and helper; `None` is the running executable,
    /// which must call [`polyshm::team::drone_main`] and [`crate::helper_main`]
    /// first thing in `main` (the `polyshm` binary does).
    pub program: Option<PathBuf>,
    /// [`Signal::Window`] measures the study's window messages beside the semaphores
    /// (table 1's window rows, table 10's `shm+window`); Windows only.
    pub signal: Signal,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            quick: false,
            scenarios: Vec::new(),
            placement: PlacementChoice::Both,
            out: PathBuf::from("report"),
            program: None,
            signal: Signal::Semaphore,
        }
    }
}

impl Config {
    /// The measurement budget per point.
    pub fn budget(&self) -> Budget {
        if self.quick {
            Budget::quick()
        } else {
            Budget::full()
        }
    }

    /// The sizes of `list` this run measures (all, or up to [`QUICK_MAX_SIZE`]).
    pub fn sizes(&self, list: &[u64]) -> Vec<u64> {
        list.iter()
            .copied()
            .filter(|s| !self.quick || *s <= QUICK_MAX_SIZE)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_stops_at_100_000() {
        let quick = Config {
            quick: true,
            ..Config::default()
        };
        assert_eq!(quick.sizes(DECADES_FROM_1000), vec![1_000, 10_000, 100_000]);
        assert_eq!(Config::default().sizes(DECADES_FROM_1000).len(), 4);
        assert!(quick.budget().time < Config::default().budget().time);
    }
}
