//! The profiling engine of polyshm (the study's package `SharedMemory-Profiling`):
//! the study's tables 1–10 and Images 1–4 measured again, in one run, beside the
//! study's own figures.
//!
//! - [`scenario`]: what is measured, one file per study table or family;
//! - [`stats`]: measuring (warm-up, repetitions) and summarising (median, p99, mean,
//!   min, count), separate from reporting;
//! - [`study`]: the study's figures, compiled in from `data/study_figures.csv`;
//! - [`placement`]: master and drone on the same CPU, or on different CPUs;
//! - [`probe`]: the relay measurements (connect, roundtrips) the scenarios and the
//!   foundation benchmark share;
//! - [`report`]: terminal tables and a progress bar while it runs, then `report.md`,
//!   `results.json`, `results.csv` and SVG plots.
//!
//! [`run`] measures, [`report::write`] writes. The `polyshm profile` command is both:
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use polyshm_profile::{run, report, Config};
//! let config = Config { quick: true, scenarios: vec!["raw".into()], ..Config::default() };
//! let outcome = run(&config, &mut report::Terminal::new())?;
//! report::write(&outcome, &config.out)?;
//! # Ok(()) }
//! ```
//!
//! Scenarios that start processes start the running executable as drone and helper
//! (or [`Config::program`]): its `main` must call [`polyshm::team::drone_main`] (with
//! the tasks of [`register_tasks`] registered) and [`helper_main`] first.
#![deny(missing_docs)]

pub mod config;
mod error;
pub mod machine;
pub mod placement;
pub mod probe;
pub mod report;
pub mod row;
pub mod scenario;
pub mod stats;
pub mod study;

pub use config::Config;
pub use error::ProfileError;
pub use row::{Placement, Row, TableRef, Unit};

use std::time::{Duration, Instant};

/// The rows of one scenario family, as one table of the report.
#[derive(Clone, Debug, PartialEq)]
pub struct TableResult {
    /// The family id (`scenario::all` lists them).
    pub id: &'static str,
    /// The study table it reproduces (or `ref`).
    pub table: TableRef,
    /// Its title.
    pub title: &'static str,
    /// The measured rows, every placement.
    pub rows: Vec<Row>,
    /// Share of all CPU time other processes used while this table was measured
    /// (see [`machine::CpuTimes`]), where known.
    pub others_cpu: Option<f64>,
}

/// A scenario that failed, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The family id.
    pub id: &'static str,
    /// The placement it was measuring.
    pub placement: Placement,
    /// The error, as text.
    pub error: String,
}

/// Everything one run measured.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// One entry per scenario family, in run order.
    pub tables: Vec<TableResult>,
    /// The machine, compiler, commit and load.
    pub machine: machine::Machine,
    /// Whether this was a `--quick` run.
    pub quick: bool,
    /// The two-process placements measured.
    pub placements: Vec<Placement>,
    /// Notes for the reader (skipped placements, pinning refused, ...).
    pub notes: Vec<String>,
    /// Scenarios that failed (their rows are missing).
    pub failures: Vec<Failure>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Outcome {
    /// Every row, in run order.
    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        self.tables.iter().flat_map(|t| t.rows.iter())
    }
}

/// Told what happens while a run measures (the terminal reporter shows it).
pub trait Observer {
    /// The run starts and will measure `points` points.
    fn start(&mut self, points: usize);
    /// One point was measured.
    fn point(&mut self, label: &str);
    /// One scenario family completed.
    fn table(&mut self, table: &TableResult);
    /// Something the reader should know.
    fn note(&mut self, note: &str);
}

/// An observer that ignores everything (tests, library use).
#[derive(Debug, Default)]
pub struct Silent;

impl Observer for Silent {
    fn start(&mut self, _: usize) {}
    fn point(&mut self, _: &str) {}
    fn table(&mut self, _: &TableResult) {}
    fn note(&mut self, _: &str) {}
}

/// Measure the scenarios `config` selects, every placement it asks for, telling
/// `observer` as it goes. A scenario that fails is recorded in
/// [`Outcome::failures`] and the run goes on; only a bad selection is an error.
pub fn run(config: &Config, observer: &mut dyn Observer) -> Result<Outcome, ProfileError> {
    let scenarios = scenario::select(&config.scenarios)?;
    let started = Instant::now();
    let machine_before = machine::Machine::probe();
    let cpu_before = machine::CpuTimes::now();
    let plan = placement::plan(config.placement, machine_before.cpus);
    let mut notes = plan.notes.clone();
    let total: usize = scenarios
        .iter()
        .map(|s| {
            let per = s.points(config);
            if s.two_process() {
                per * plan.placements.len()
            } else {
                per
            }
        })
        .sum();
    observer.start(total);
    for n in &notes {
        observer.note(n);
    }
    // Started before the master pins itself: it keeps every CPU.
    let unpinned = placement::Unpinned::start()
        .map_err(|e| ProfileError::io("start a thread", "(unpinned helper thread)", e))?;
    let (master_cpu, _) = placement::cpus(Placement::Single);
    if let Err(e) = placement::pin_master(master_cpu) {
        let n = format!("could not pin the master to CPU {master_cpu} ({e}); measured unpinned");
        observer.note(&n);
        notes.push(n);
    }

    let mut tables: Vec<TableResult> = Vec::new();
    let mut failures = Vec::new();
    for sc in &scenarios {
        let placements: Vec<Placement> = if sc.two_process() {
            plan.placements.clone()
        } else {
            vec![Placement::Single]
        };
        let mut rows = Vec::new();
        let cpu_at_start = machine::CpuTimes::now();
        for placement in placements {
            let mut on_point = |label: &str| observer_point(observer, label);
            let mut scenario_notes = Vec::new();
            let result = {
                let mut ctx = scenario::Context {
                    config,
                    placement,
                    budget: config.budget(),
                    on_point: &mut on_point,
                    notes: &mut scenario_notes,
                    unpinned: &unpinned,
                };
                sc.run(&mut ctx)
            };
            for n in scenario_notes {
                if !notes.contains(&n) {
                    observer.note(&n);
                    notes.push(n);
                }
            }
            match result {
                Ok(mut r) => rows.append(&mut r),
                Err(e) => {
                    let f = Failure {
                        id: sc.id(),
                        placement,
                        error: e.to_string(),
                    };
                    observer.note(&format!(
                        "scenario `{}` ({placement}) failed: {}",
                        f.id, f.error
                    ));
                    failures.push(f);
                }
            }
        }
        let earlier: Vec<Row> = tables.iter().flat_map(|t| t.rows.clone()).collect();
        annotate(&mut rows, &earlier);
        let t = TableResult {
            id: sc.id(),
            table: sc.table(),
            title: sc.title(),
            rows,
            others_cpu: cpu_at_start
                .zip(machine::CpuTimes::now())
                .and_then(|(a, b)| a.others_share(&b)),
        };
        observer.table(&t);
        tables.push(t);
    }
    let mut machine = machine_before;
    machine.load_after = machine::Machine::probe().load_before;
    machine.others_cpu = cpu_before
        .zip(machine::CpuTimes::now())
        .and_then(|(a, b)| a.others_share(&b));
    Ok(Outcome {
        tables,
        machine,
        quick: config.quick,
        placements: plan.placements,
        notes,
        failures,
        elapsed: started.elapsed(),
    })
}

fn observer_point(observer: &mut dyn Observer, label: &str) {
    observer.point(label);
}

/// The baseline a row is compared with in the same run: the TCP socket request (table
/// 7, or table 6 for the empty task) of the same size, unit and placement.
fn socket_baseline<'a>(row: &Row, pool: impl Iterator<Item = &'a Row>) -> Option<&'a Row> {
    let base_scenario = match row.scenario.as_str() {
        "socket_empty_task" | "empty_task" => "socket_empty_task",
        "socket_request" | "hybrid_result" | "shm_command" | "shm_command_zero_copy" => {
            "socket_request"
        }
        _ => return None,
    };
    if row.transport == "tcp" {
        return None;
    }
    let mut pool = pool;
    pool.find(|b| {
        b.scenario == base_scenario
            && b.transport == "tcp"
            && b.size == row.size
            && b.unit == row.unit
            && b.placement == row.placement
    })
}

/// Fill in the study's figures and the factors of `rows`, using `earlier` rows of
/// the same run (and `rows` themselves) as socket baselines.
pub fn annotate(rows: &mut [Row], earlier: &[Row]) {
    let snapshot: Vec<Row> = rows.to_vec();
    for row in rows.iter_mut() {
        let size = row.size.zip(row.unit);
        if let TableRef::Study(_) = row.table {
            if let Some(f) = study::lookup(row.table, study::alias(&row.scenario), size) {
                row.study_us = Some(f.study_us);
                row.study_factor = f.study_factor;
                if f.study_us > 0.0 {
                    row.factor_vs_study = Some(row.median_us / f.study_us);
                }
            }
        }
        if let Some(base) = socket_baseline(row, earlier.iter().chain(snapshot.iter())) {
            if base.median_us > 0.0 {
                row.factor_vs_socket = Some(row.median_us / base.median_us);
            }
        }
    }
}

/// Register the tasks the profile's drones run (beyond the built-ins of
/// [`polyshm::team::Tasks::new`]): a program that runs profiles registers them in the
/// tasks it hands to [`polyshm::team::drone_main`] (the `polyshm` binary does).
pub fn register_tasks(tasks: &mut polyshm::team::Tasks) {
    scenario::structured::register(tasks);
}

/// Called first thing in `main` of a program that runs profiles: if this process was
/// started as a profile helper (relay client, UDP peer), serve and exit; otherwise
/// return at once.
pub fn helper_main() {
    scenario::helper_main();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Summary;

    fn row(table: TableRef, scenario: &str, transport: &str, size: u64, median: f64) -> Row {
        let s = Summary::from_us(&[median]).unwrap();
        Row::measured(
            table,
            scenario,
            transport,
            Some((size, Unit::Ints)),
            Placement::Same,
            s,
            1,
        )
    }

    #[test]
    fn annotate_adds_study_figures_and_both_factors() {
        let base = vec![row(TableRef::Study(7), "socket_request", "tcp", 1000, 40.0)];
        let mut rows = vec![row(TableRef::Study(10), "shm_command", "shm", 1000, 10.0)];
        annotate(&mut rows, &base);
        let r = &rows[0];
        assert_eq!(r.study_us, Some(397.0));
        assert_eq!(r.study_factor, Some(0.03));
        assert_eq!(r.factor_vs_socket, Some(0.25));
        assert!((r.factor_vs_study.unwrap() - 10.0 / 397.0).abs() < 1e-12);
    }

    #[test]
    fn annotate_leaves_unknown_points_null() {
        let mut rows = vec![
            row(TableRef::Ref, "memcpy", "memcpy", 1000, 1.0),
            row(TableRef::Study(10), "shm_command", "shm", 1000, 10.0),
        ];
        annotate(&mut rows, &[]);
        assert_eq!(rows[0].study_us, None);
        assert_eq!(rows[0].factor_vs_socket, None);
        assert_eq!(rows[1].factor_vs_socket, None, "no table 7 row measured");
    }

    #[test]
    fn baseline_must_match_placement() {
        let mut base = row(TableRef::Study(7), "socket_request", "tcp", 1000, 40.0);
        base.placement = Placement::Cross;
        let mut rows = vec![row(TableRef::Ref, "socket_request", "unix", 1000, 20.0)];
        annotate(&mut rows, &[base]);
        assert_eq!(rows[0].factor_vs_socket, None);
    }
}
