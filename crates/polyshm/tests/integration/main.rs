//! Multi-process integration tests: one binary, a module per area.
//!
//! A test that needs other processes re-runs this very executable as a child
//! ([`common::spawn_child`]): the child runs the ignored test [`child_entry`] with the
//! environment variable `POLYSHM_TEST_CHILD` naming its role. Every such test holds a
//! [`common::Watchdog`] (a hang kills the children, removes the test's segments and
//! fails the run) and cleans up in Drop guards; segment names come from
//! `shm::unique_name`.

mod common;
mod errors;
mod event_semaphore;
mod hostile;
mod index;
mod mutants;
mod mutex;
mod objects;
mod publication;
mod relay;
#[cfg(feature = "failpoints")]
mod relay_faults;
mod semaphore;

/// Entry point of child processes (not a test: it runs only when a test re-runs this
/// executable with `POLYSHM_TEST_CHILD` set, and returns at once otherwise).
#[test]
#[ignore = "child-process entry point, run by the multi-process tests"]
fn child_entry() {
    common::run_child();
}
