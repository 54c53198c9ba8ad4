//! Integration tests of the drone team: one conformance suite run against every
//! transport, plus the faults, and the master killed with -9.
//!
//! Drones need a program to run: this test binary is its own drone. It is built with
//! `harness = false`; `main` calls `drone_main` first (a drone never returns from it),
//! then runs the trials with libtest-mimic (`cargo test --test team -- <filter>` works
//! as usual). A third role, the "doomed master" of the kill -9 test, is chosen by the
//! `POLYSHM_TEST_MASTER` variable; a fourth, the "fault master" of the fault table
//! (`faults.rs`, feature `failpoints`), by `POLYSHM_TEST_FAULT_MASTER`. Every trial runs
//! under a watchdog; after all trials
//! the binary checks that no segment it owns is left in /dev/shm.

mod archived;
mod conformance;
#[cfg(feature = "failpoints")]
mod faults;
mod hostile;
#[cfg(feature = "mpi")]
mod mpi;
mod objects;
mod support;

use libtest_mimic::{Arguments, Trial};
use polyshm::team::{drone_main, Signal, Transport};

fn main() {
    support::stall_if_asked();
    #[cfg(feature = "failpoints")]
    faults::fault_once();
    drone_main(&support::tasks().0);
    #[cfg(feature = "failpoints")]
    if let Ok(spec) = std::env::var(faults::FAULT_MASTER_ENV) {
        faults::fault_master(&spec);
    }
    if let Ok(t) = std::env::var(support::MASTER_ENV) {
        support::doomed_master(&t);
    }
    #[cfg(feature = "failpoints")]
    if let Ok(spec) = std::env::var(archived::faults::SCRIBBLER_ENV) {
        archived::faults::scribbler(&spec);
    }
    if let Ok(t) = std::env::var(hostile::SCRIBBLED_ENV) {
        hostile::scribbled_master(&t);
    }
    // Rank 0 under mpirun (the other ranks serve in drone_main).
    #[cfg(feature = "mpi")]
    if polyshm::team::in_mpi_job() {
        mpi::main();
    }
    let args = Arguments::from_args();
    let mut trials: Vec<Trial> = Vec::new();
    for t in Transport::ALL {
        // Rust's standard library has no Unix sockets on Windows: list those as ignored.
        let absent = !t.is_available();
        trials.extend(
            conformance::trials(t)
                .into_iter()
                .map(|trial| trial.with_ignored_flag(absent)),
        );
    }
    trials.push(support::trial(
        "signal::window_is_refused_where_it_cannot_work",
        conformance::signal_refusals,
    ));
    // The shm and (protected) hybrid transports again, their hand-over signalled by
    // the study's window messages (Windows only: listed as ignored elsewhere).
    for t in [Transport::Shm, Transport::Hybrid { protected: true }] {
        trials.extend(
            conformance::trials_with(t, Signal::Window)
                .into_iter()
                .map(|trial| trial.with_ignored_flag(!Signal::Window.is_available())),
        );
    }
    #[cfg(feature = "failpoints")]
    for t in Transport::ALL {
        let absent = !t.is_available();
        trials.extend(
            faults::trials(t)
                .into_iter()
                .map(|trial| trial.with_ignored_flag(absent)),
        );
    }
    trials.extend(hostile::trials());
    trials.extend(objects::trials());
    let conclusion = libtest_mimic::run(&args, trials);
    let left = support::segments_of(std::process::id());
    if !left.is_empty() {
        eprintln!("segments left behind by the tests: {left:?}");
        std::process::exit(101);
    }
    conclusion.exit();
}
