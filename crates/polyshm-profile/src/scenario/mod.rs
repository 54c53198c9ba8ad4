//! The scenarios: one file per study table or family of tables.
//!
//! | family id | study table | rows (`scenario` ids) |
//! |---|---|---|
//! | `relay` | 1 | `relay_connect`, `mutex_roundtrip` |
//! | `window_relay` | 1 (`--signal window`, Windows) | `window_connect`, `window_mutex_roundtrip`, `window_signal_roundtrip` |
//! | `udp_roundtrip` | 2 | `udp_roundtrip` |
//! | `raw` | 3 | `raw_read`, `raw_write`, `raw_write_read` |
//! | `simple_codec` | 4 | `simple_encode`, `simple_decode` |
//! | `general_codec` | 5 | `general_encode`, `general_decode` |
//! | `structured_codec` | ref (after 5: "Structured encoding") | `structured_encode`, `structured_decode`, `structured_write`, `structured_read_one`, `structured_read_all` |
//! | `structured_roundtrip` | ref (after 5: "Structured encoding") | `structured_roundtrip_postcard`, `structured_roundtrip_archive` (tcp, shm) |
//! | `socket_empty_task` | 6 (+ ref) | `socket_empty_task` (tcp: table 6; unix, hybrid, shm: ref) |
//! | `socket_request` | 7 (+ ref) | `socket_request` (tcp: table 7; unix: ref) |
//! | `hybrid_protected` | 8 | `hybrid_result` (transport `hybrid`) |
//! | `hybrid_unprotected` | 9 | `hybrid_result` (transport `hybrid-unprotected`) |
//! | `shm_command` | 10 | `shm_command` (and `shm+window` with `--signal window`) |
//! | `memcpy` | ref | `memcpy` |

mod codec;
pub mod helper;
mod memcpy;
mod raw;
mod relay;
pub mod structured;
mod team;
mod udp;
mod window;

use crate::config::Config;
use crate::error::ProfileError;
use crate::row::{Placement, Row, TableRef, Unit};
use crate::stats::{measure, Budget, Samples, Summary};
use std::path::PathBuf;

/// One family of measurements, usually one study table.
pub trait Scenario {
    /// The family id, for `--scenario`.
    fn id(&self) -> &'static str;
    /// The study table it reproduces.
    fn table(&self) -> TableRef;
    /// A one-line title (the study's caption where it has one).
    fn title(&self) -> &'static str;
    /// The `scenario` ids of the rows it produces (also accepted by `--scenario`).
    fn row_ids(&self) -> &'static [&'static str];
    /// Whether it runs two processes (and so is measured per placement).
    fn two_process(&self) -> bool;
    /// How many points it will measure per placement (for the progress bar).
    fn points(&self, config: &Config) -> usize;
    /// Measure every point, calling `ctx.point_done` after each.
    fn run(&self, ctx: &mut Context<'_>) -> Result<Vec<Row>, ProfileError>;
}

/// Every scenario, in the study's order, the reference rows last.
pub fn all() -> Vec<Box<dyn Scenario>> {
    vec![
        Box::new(relay::Relay),
        Box::new(window::WindowRelay),
        Box::new(udp::Udp),
        Box::new(raw::Raw),
        Box::new(codec::Simple),
        Box::new(codec::General),
        Box::new(structured::Codec),
        Box::new(structured::Roundtrip),
        Box::new(team::EmptyTask),
        Box::new(team::Requests),
        Box::new(team::Hybrid { protected: true }),
        Box::new(team::Hybrid { protected: false }),
        Box::new(team::ShmCommand),
        Box::new(memcpy::Memcpy),
    ]
}

pub(crate) use helper::helper_main;

/// The scenarios `selectors` ask for (all when empty): a selector is a family id, a
/// row id, a study table number, or `ref`.
pub fn select(selectors: &[String]) -> Result<Vec<Box<dyn Scenario>>, ProfileError> {
    let every = all();
    if selectors.is_empty() {
        return Ok(every);
    }
    for s in selectors {
        if !every.iter().any(|sc| matches(sc.as_ref(), s)) {
            let mut known: Vec<&str> = every.iter().map(|s| s.id()).collect();
            for sc in &every {
                for r in sc.row_ids() {
                    if !known.contains(r) {
                        known.push(r);
                    }
                }
            }
            return Err(ProfileError::UnknownScenario {
                given: s.clone(),
                known: known.join(", "),
            });
        }
    }
    Ok(every
        .into_iter()
        .filter(|sc| selectors.iter().any(|s| matches(sc.as_ref(), s)))
        .collect())
}

fn matches(sc: &dyn Scenario, selector: &str) -> bool {
    sc.id() == selector || sc.row_ids().contains(&selector) || sc.table().to_string() == selector
}

/// What a scenario gets while it runs: the run's settings, the placement, and where
/// to report progress.
pub struct Context<'a> {
    /// The run's settings.
    pub config: &'a Config,
    /// The placement being measured.
    pub placement: Placement,
    /// Budget per point.
    pub budget: Budget,
    /// Called after each point with a short label.
    pub on_point: &'a mut dyn FnMut(&str),
    /// Notes for the report (something skipped, something odd).
    pub notes: &'a mut Vec<String>,
    /// A thread that is not pinned to the master's CPU.
    pub unpinned: &'a crate::placement::Unpinned,
}

impl Context<'_> {
    /// The program to start as drone or helper process.
    pub fn program(&self) -> Result<PathBuf, ProfileError> {
        match &self.config.program {
            Some(p) => Ok(p.clone()),
            None => std::env::current_exe()
                .map_err(|e| ProfileError::io("find the running executable", "(self)", e)),
        }
    }

    /// The CPUs of (master, drone) for this context's placement.
    pub fn cpus(&self) -> (usize, usize) {
        crate::placement::cpus(self.placement)
    }

    /// Measure one point with `budget` and make its row; reports progress.
    pub fn point<E>(
        &mut self,
        budget: Budget,
        table: TableRef,
        scenario: &str,
        transport: &str,
        size: Option<(u64, Unit)>,
        op: impl FnMut() -> Result<(), E>,
    ) -> Result<Row, E> {
        let samples = measure(&budget, op)?;
        Ok(self.record(table, scenario, transport, size, &samples))
    }

    /// Make the row of samples measured elsewhere; reports progress.
    ///
    /// # Panics
    /// If `samples` is empty (every measuring function takes at least one).
    pub fn record(
        &mut self,
        table: TableRef,
        scenario: &str,
        transport: &str,
        size: Option<(u64, Unit)>,
        samples: &Samples,
    ) -> Row {
        let summary = Summary::of(samples).expect("measuring takes at least one sample");
        let row = Row::measured(
            table,
            scenario,
            transport,
            size,
            self.placement,
            summary,
            samples.batch,
        );
        let label = match size {
            Some((s, u)) => format!("{scenario} {transport} {s} {}", u.as_str()),
            None => format!("{scenario} {transport}"),
        };
        (self.on_point)(&label);
        row
    }
}

/// A payload of `n` bytes with a recognisable pattern.
pub(crate) fn byte_payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// An array of `n` integers with a recognisable pattern (large values, so that a
/// variable-length encoding has work to do).
pub(crate) fn int_payload(n: usize) -> Vec<i64> {
    (0..n as i64)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15u64 as i64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_study_table_has_a_scenario() {
        let every = all();
        for t in 1..=10u8 {
            assert!(
                every.iter().any(|s| s.table() == TableRef::Study(t)),
                "table {t}"
            );
        }
        let mut ids: Vec<_> = every.iter().map(|s| s.id()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), every.len(), "family ids are unique");
    }

    #[test]
    fn selection_by_family_row_or_table() {
        let ids = |sel: &[&str]| -> Vec<&'static str> {
            let v: Vec<String> = sel.iter().map(|s| s.to_string()).collect();
            select(&v).unwrap().iter().map(|s| s.id()).collect()
        };
        assert_eq!(ids(&["raw"]), vec!["raw"]);
        assert_eq!(ids(&["raw_write"]), vec!["raw"]);
        assert_eq!(ids(&["7"]), vec!["socket_request"]);
        assert_eq!(
            ids(&["hybrid_result"]),
            vec!["hybrid_protected", "hybrid_unprotected"]
        );
        assert_eq!(
            ids(&["structured"]),
            vec!["structured_codec", "structured_roundtrip"]
        );
        assert_eq!(select(&[]).unwrap().len(), all().len());
        let err = select(&["nope".to_string()]).err().unwrap().to_string();
        assert!(err.contains("nope") && err.contains("shm_command"), "{err}");
    }

    #[test]
    fn payloads_have_the_asked_length() {
        assert_eq!(byte_payload(1000).len(), 1000);
        assert_eq!(int_payload(10).len(), 10);
        assert_ne!(int_payload(3)[1], 1);
    }
}
