//! Layer 6: the drone team (the study's Polycephaly and "SharedMemory-ExampleApp").
//!
//! A master builds a [`Team`]: N drones, each this executable run again (the user's
//! `main` calls [`drone_main`] first; a drone never returns from it), connected by one
//! of the [`Transport`]s. Tasks are registered by name in [`Tasks`], the same in master
//! and drones: serde tasks, plain-old-data tasks on a fast path with no encode step,
//! and (feature `script`) script blocks shipped as text.
//!
//! Registering a task answers a typed key; every call takes the key, so a task's name
//! and types cannot drift apart, and the master refuses a task its own [`Tasks`] does
//! not hold before anything is sent. The key's kind decides the encoding
//! ([`Task`]: serde; [`PodTask`]: plain-old-data arrays as their own bytes;
//! [`InPlaceTask`]: an array changed where it lies; [`ArchivedTask`]: any structured
//! type as an rkyv archive, read in place); one call family serves them all:
//!
//! - [`Team::run`]: one task on one drone;
//! - [`Team::map`]: one task per input, spread over the drones, answers in order;
//! - [`Team::submit`]: a [`TaskHandle`] with `wait`, `wait_timeout`, `cancel`;
//!   [`wait_any`] for the first of many;
//! - [`Team::loan`]: zero copy for pod keys, the drone's request area filled in place
//!   ([`Loan`]) and the answer read where it lies ([`Reply`]);
//! - [`Team::run_archived`]: zero copy for archived keys, the argument's archive
//!   written into the drone's request area and the answer read in place as its
//!   archived type, validated first ([`ArchivedReply`]);
//! - [`Team::zip_script`] / [`Team::script`] (feature `script`): the study's
//!   `drones do: '[:a :b | a + b]' with: … with: …`, any serde values in and out.
//!
//! With the feature `mpi`, the drones may be the ranks of an MPI job instead
//! ([`TeamBuilder::mpi`]; `mpirun -n K prog`): shared memory to the ranks of the
//! master's node, MPI messages to the others.
//!
//! Faults come back as [`TeamError`]s: a panic in the drone, a drone that died (it is
//! replaced; `retry_dead` tries again), a task past its deadline (its drone is killed
//! and replaced), an unknown task, a drone of another version.
//!
//! ```no_run
//! use polyshm::team::{drone_main, Task, Tasks, Team};
//! fn main() -> Result<(), polyshm::team::TeamError> {
//!     let mut tasks = Tasks::new();
//!     let add: Task<(i64, i64), i64> = tasks.task("add", |(a, b)| a + b);
//!     drone_main(&tasks); // in a drone: serve, never return
//!     let drones = Team::builder(tasks).drones(2).spawn()?;
//!     let sums: Vec<i64> = drones.zip_script("|a, b| a + b", [1, 2, 3, 4, 5], [5, 4, 3, 2, 1])?;
//!     assert_eq!(sums, [6, 6, 6, 6, 6]);
//!     assert_eq!(drones.map(&add, [(1, 5), (2, 4)])?, [6, 6]);
//!     Ok(())
//! }
//! ```

mod archived;
mod builder;
mod call;
mod dispatch;
mod drone;
mod error;
mod handle;
mod handshake;
mod launch;
mod loan;
#[cfg(feature = "mpi")]
mod mpi;
mod pod_out;
pub(crate) mod protocol;
#[cfg(feature = "script")]
mod script;
mod tasks;
#[allow(clippy::module_inception)]
mod team;
pub(crate) mod transport;

pub use archived::{ArchivedReply, ArchivedTask};
pub use builder::{TeamBuilder, DEFAULT_WAIT};
pub use call::{builtin, Call, InPlaceTask, Input, PodCall, PodTask, Task, TaskKind};
pub use drone::{drone_main, DRONE_ENV};
pub use error::TeamError;
pub use handle::{wait_any, TaskHandle};
pub use loan::{Loan, Reply};
#[cfg(feature = "mpi")]
pub use mpi::{in_mpi_job, ALL_REMOTE_ENV, REMOTE_RANKS_ENV};
pub use pod_out::PodOut;
pub use tasks::Tasks;
#[cfg(feature = "script")]
pub use team::check_script;
pub use team::Team;
pub use transport::{Signal, Transport, UnknownSignal, UnknownTransport};
